"""Each run's predictions.tsv read per task and split, aligned on one image order, and the lesion
group of each image (the unit the bootstrap resamples)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from samderm.io import read_tsv
from samderm.report.aggregate import ResultsError

PREDICTION_KEYS = ["image_id", "split", "task", "label", "predicted"]


@dataclass(frozen=True)
class TaskPredictions:
    """One task on one split of one run: images sorted by id, integer labels, probabilities."""
    classes: list[str]
    image_ids: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray


def read_predictions(path: str | Path, splits: Iterable[str]) -> dict[tuple[str, str], TaskPredictions]:
    """(task, split) -> predictions of that task and split; a task's classes are the ``p_`` columns
    filled on its rows, in file order."""
    table = read_tsv(path)
    missing = set(PREDICTION_KEYS) - set(table.columns)
    if missing:
        raise ResultsError(f"{path}: missing columns {sorted(missing)}")
    out = {}
    for (task, split), rows in table[table["split"].isin(list(splits))].groupby(["task", "split"], sort=False):
        probability_columns = [c for c in table.columns if c.startswith("p_")]
        filled = rows[probability_columns].ne("").all(axis=0)
        columns = [c for c in probability_columns if filled[c]]
        if not columns:
            raise ResultsError(f"{path}: task {task!r} has no probability columns")
        classes = [c[2:] for c in columns]
        rows = rows.sort_values("image_id", kind="stable")
        unknown = set(rows["label"]) - set(classes)
        if unknown:
            raise ResultsError(f"{path}: task {task!r} has labels {sorted(unknown)} outside its classes {classes}")
        if rows["image_id"].duplicated().any():
            raise ResultsError(f"{path}: task {task!r}, split {split!r} lists an image twice")
        index = {c: i for i, c in enumerate(classes)}
        out[(task, split)] = TaskPredictions(classes, rows["image_id"].to_numpy(dtype=str),
                                             rows["label"].map(index).to_numpy(dtype=int),
                                             rows[columns].to_numpy(dtype=float))
    return out


def check_same_images(reference: TaskPredictions, other: TaskPredictions, where: str) -> None:
    """Paired comparisons need every run to predict the same images of a task."""
    if reference.classes != other.classes or not np.array_equal(reference.image_ids, other.image_ids):
        raise ResultsError(f"{where}: its images or classes differ from the other runs' of the same task "
                           "(every run must be tested on the same split)")


def group_column(manifest: pd.DataFrame) -> str:
    """``group_id`` (near-duplicates joined) when the manifest has it, else ``lesion_id``."""
    for column in ("group_id", "lesion_id"):
        if column in manifest.columns:
            return column
    raise ResultsError("manifest: neither a group_id nor a lesion_id column")


def image_groups(manifest: pd.DataFrame, image_ids: np.ndarray, manifest_name: str = "manifest.tsv") -> np.ndarray:
    """The resampling group of each image; an image without a group is a group of its own."""
    column = group_column(manifest)
    groups = manifest.set_index("image_id")[column].fillna("").astype(str)
    absent = pd.Index(image_ids).difference(groups.index)
    if len(absent):
        raise ResultsError(f"{manifest_name}: no row for predicted image(s) {list(absent[:5])}")
    found = groups.reindex(image_ids).to_numpy(dtype=str)
    return np.where(found == "", np.char.add("image:", np.asarray(image_ids, dtype=str)), found)
