"""Each dataset's class vocabulary mapped to the study's classes (the ISIC 2019 eight by default).

A label the mapping does not list is unmapped: left out (``exclude``) or kept as near-OOD
(``near_ood``); a file without a label (``original_label`` "") is ``unlabelled``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from samderm.data.labels import ISIC_CLASSES

DEFAULT_MAPPINGS: dict[str, dict[str, str]] = {
    # HAM10000_metadata.csv, column dx
    "ham10000": {"akiec": "AK", "bcc": "BCC", "bkl": "BKL", "df": "DF", "mel": "MEL", "nv": "NV", "vasc": "VASC"},
    # PAD-UFES-20 metadata.csv, column diagnostic; SCC includes Bowen's disease (SCC in situ)
    "pad_ufes20": {"ACK": "AK", "BCC": "BCC", "MEL": "MEL", "NEV": "NV", "SCC": "SCC", "SEK": "BKL", "BOD": "SCC"},
    # ISIC 2019 test ground truth: the eight classes as themselves; UNK stays unmapped
    "isic2019_test": {c: c for c in ISIC_CLASSES},
}

UNMAPPED = {"exclude": "unmapped_excluded", "near_ood": "unmapped_near_ood"}
MAPPED, UNLABELLED = "mapped", "unlabelled"
COUNT_COLUMNS = ["original_label", "lesion_class", "mapping", "images"]


def check_mapping(mapping: Mapping[str, str], classes: Sequence[str] = ISIC_CLASSES) -> None:
    """Every target is one of ``classes``; no source class is empty."""
    for source, target in mapping.items():
        if not isinstance(source, str) or not source:
            raise ValueError(f"mapping: source class {source!r} must be a non-empty string")
        if target not in classes:
            raise ValueError(f"mapping: source class {source!r} maps to {target!r}, which is not one of the classes {list(classes)}")


def apply_mapping(table: pd.DataFrame, mapping: Mapping[str, str], unmapped: str = "exclude",
                  classes: Sequence[str] = ISIC_CLASSES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(a copy of ``table`` with ``lesion_class`` and ``mapping`` filled, counts).

    ``mapping``: original label -> class. A row whose label it lists is ``mapped``; one it does not
    list gets ``lesion_class`` "" and ``unmapped_excluded`` (``unmapped="exclude"``) or
    ``unmapped_near_ood`` (``unmapped="near_ood"``); a row with ``original_label`` "" is
    ``unlabelled``. ``counts``: one row per (original_label, lesion_class, mapping) with its number
    of ``images``; the images add up to ``len(table)``.
    """
    if unmapped not in UNMAPPED:
        raise ValueError(f"unmapped: must be one of {list(UNMAPPED)}, got {unmapped!r}")
    check_mapping(mapping, classes)
    if "original_label" not in table.columns:
        raise ValueError(f"table: no original_label column; columns are {list(table.columns)}")
    out = table.copy()
    labels = out["original_label"].fillna("").astype(str)
    out["lesion_class"] = [mapping.get(label, "") if label else "" for label in labels]
    out["mapping"] = [UNLABELLED if not label else MAPPED if label in mapping else UNMAPPED[unmapped]
                      for label in labels]
    counts = (out.assign(original_label=labels)
              .groupby(["original_label", "lesion_class", "mapping"], sort=True).size()
              .reset_index(name="images"))
    counts = counts.reindex(columns=COUNT_COLUMNS)
    if counts.empty:
        counts = pd.DataFrame({c: pd.Series(dtype="int64" if c == "images" else str) for c in COUNT_COLUMNS})
    assert int(counts["images"].sum()) == len(out), "taxonomy counts do not add up to the table"
    return out, counts.reset_index(drop=True)
