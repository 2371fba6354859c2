"""The ISIC 2019 training files as distributed: ground-truth CSV, metadata CSV, image folder.
Both CSVs go through the adapters' strict reader (``samderm.data.sources.tables.read_csv``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from samderm.data.labels import ISIC_CLASSES, UNK
from samderm.data.metadata import subject_metadata
from samderm.data.sources.tables import one_hot, read_csv

GROUND_TRUTH = "ISIC_2019_Training_GroundTruth.csv"
METADATA = "ISIC_2019_Training_Metadata.csv"
IMAGE_FOLDER = "ISIC_2019_Training_Input"
GROUND_TRUTH_COLUMNS = ("image", *ISIC_CLASSES, UNK)
METADATA_COLUMNS = ("image", "age_approx", "anatom_site_general", "lesion_id", "sex")


def layout(root: str | Path) -> dict[str, Path]:
    """The ISIC 2019 files under one folder, as ``build_manifest`` takes them."""
    root = Path(root)
    return {"ground_truth": root / GROUND_TRUTH, "metadata": root / METADATA, "images": root / IMAGE_FOLDER}


def _read_csv(path: Path, required: tuple[str, ...], exact: bool) -> pd.DataFrame:
    """The shared strict reader (``samderm.data.sources.tables.read_csv``): image ids non-empty,
    not necessarily unique (a repeated id is reported as a problem, not refused); with ``exact``,
    a column beyond ``required`` is refused."""
    table = read_csv(path, required, "ISIC 2019", id_column="image", unique=False)
    if exact:
        unknown = [c for c in table.columns if c not in required]
        if unknown:
            raise ValueError(f"{path}: unknown class column(s) {unknown}; expected exactly {list(required)}")
    return table


def read_ground_truth(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(image id -> class, image id -> reason it is unusable). A row must be one-hot:
    exactly one 1 and the rest 0; an id listed twice is unusable (which row is right?)."""
    path = Path(path)
    table = _read_csv(path, GROUND_TRUTH_COLUMNS, exact=True)
    labels: dict[str, str] = {}
    problems: dict[str, str] = {}
    seen_rows: dict[str, list[int]] = {}
    for row_number, record in zip(table.index, table.to_dict("records")):
        image = record["image"]
        seen_rows.setdefault(image, []).append(row_number)
        label, why = one_hot({c: record[c] for c in GROUND_TRUTH_COLUMNS[1:]})
        if label is None:
            problems[image] = f"{path.name} row {row_number}: {why}"
        else:
            labels[image] = label
    for image, rows in seen_rows.items():
        if len(rows) > 1:
            problems[image] = f"{path.name}: image id listed {len(rows)} times (rows {rows})"
            labels.pop(image, None)
    return labels, problems


def read_subjects(path: str | Path) -> dict[str, dict[str, str]]:
    """image id -> its sex, age, site and Fitzpatrick type in the manifest's spelling (samderm.data.metadata),
    from whichever of the metadata columns the file has; a repeated id keeps its first row."""
    table = _read_csv(Path(path), ("image",), exact=False)
    return {record["image"]: subject_metadata(record)
            for record in table.drop_duplicates("image").to_dict("records")}


def read_metadata(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(image id -> lesion_id, possibly empty; image id -> reason it is unusable)."""
    path = Path(path)
    table = _read_csv(path, ("image", "lesion_id"), exact=False)
    counts = table["image"].value_counts()
    problems = {
        image: f"{path.name}: image id listed {n} times"
        for image, n in counts.items() if n > 1
    }
    lesion_ids = {
        image: lesion_id
        for image, lesion_id in zip(table["image"], table["lesion_id"])
        if image not in problems
    }
    return lesion_ids, problems
