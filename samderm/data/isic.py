"""The ISIC 2019 training files as distributed: ground-truth CSV, metadata CSV, image folder."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd

from samderm.data.labels import ISIC_CLASSES, UNK

GROUND_TRUTH = "ISIC_2019_Training_GroundTruth.csv"
METADATA = "ISIC_2019_Training_Metadata.csv"
IMAGE_FOLDER = "ISIC_2019_Training_Input"
GROUND_TRUTH_COLUMNS = ("image", *ISIC_CLASSES, UNK)
METADATA_COLUMNS = ("image", "age_approx", "anatom_site_general", "lesion_id", "sex")


def layout(root: str | Path) -> dict[str, Path]:
    """The ISIC 2019 files under one folder, as ``build_manifest`` takes them."""
    root = Path(root)
    return {"ground_truth": root / GROUND_TRUTH, "metadata": root / METADATA, "images": root / IMAGE_FOLDER}


ONE, ZERO = {"1", "1.0", "1.00"}, {"0", "0.0", "0.00"}


def _read_csv(path: Path, required: tuple[str, ...], exact: bool) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (expected in the ISIC 2019 layout)")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    header = [h.strip() for h in header]
    twice = sorted(c for c, n in Counter(header).items() if n > 1)
    if twice:
        raise ValueError(f"{path}: column(s) {twice} appear more than once in the header")
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; header is {header}")
    if exact:
        unknown = [c for c in header if c not in required]
        if unknown:
            raise ValueError(f"{path}: unknown class column(s) {unknown}; expected exactly {list(required)}")
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    table.columns = header
    table["image"] = table["image"].str.strip()
    empty = table.index[table["image"] == ""].tolist()
    if empty:
        raise ValueError(f"{path}: row(s) {[i + 2 for i in empty]} have an empty image id")
    return table


def read_ground_truth(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(image id -> class, image id -> reason it is unusable). A row must be one-hot:
    exactly one 1 and the rest 0; an id listed twice is unusable (which row is right?)."""
    path = Path(path)
    table = _read_csv(path, GROUND_TRUTH_COLUMNS, exact=True)
    labels: dict[str, str] = {}
    problems: dict[str, str] = {}
    seen_rows: dict[str, list[int]] = {}
    for row_number, row in enumerate(table.itertuples(index=False), start=2):
        record = dict(zip(table.columns, row))
        image = record["image"]
        seen_rows.setdefault(image, []).append(row_number)
        values = {c: record[c].strip() for c in GROUND_TRUTH_COLUMNS[1:]}
        odd = {c: v for c, v in values.items() if v not in ONE | ZERO}
        hot = [c for c, v in values.items() if v in ONE]
        if odd:
            problems[image] = f"{path.name} row {row_number}: not a 0/1 value in {odd}"
        elif len(hot) != 1:
            what = "no class" if not hot else f"{len(hot)} classes {hot}"
            problems[image] = f"{path.name} row {row_number}: {what} (one-hot label expected)"
        else:
            labels[image] = hot[0]
    for image, rows in seen_rows.items():
        if len(rows) > 1:
            problems[image] = f"{path.name}: image id listed {len(rows)} times (rows {rows})"
            labels.pop(image, None)
    return labels, problems


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
        image: lesion_id.strip()
        for image, lesion_id in zip(table["image"], table["lesion_id"])
        if image not in problems
    }
    return lesion_ids, problems
