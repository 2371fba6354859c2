"""Read and check per-image predictions of another model, in one of two formats:

* ``panderm``: PanDerm's released per-image CSV, ``filename, true_label, predicted_label,
  probability_class_0..K-1``; a label is an index 0..K-1 or one of ``classes`` (the names of the K
  probability columns, "0".."K-1" when not given).
* ``isic``: the ISIC 2019 submission, ``image`` and one probability column per class, with the truth from a
  ground-truth CSV of the same columns, one-hot.

Either file may add a ``split`` column (``train``/``val``/``test``; without it every row is test; train rows are
excluded) and a group column (named by ``group_column``). A class map renames, merges (probabilities summed) or
drops (``null``) the file's classes; images whose true class is dropped are excluded and the remaining
probabilities renormalised. Errors name the file, the line (the header is line 1) and the column.
The counts reconcile: rows read = test + val + excluded (logged)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml

log = logging.getLogger(__name__)

FORMATS = ("auto", "panderm", "isic")
PANDERM_KEYS = ("filename", "true_label", "predicted_label")
PROBABILITY = re.compile(r"^probability_class_(\d+)$")
SPLIT_COLUMN = "split"
SPLITS = ("train", "val", "test")
SCORED_SPLITS = ("val", "test")  # train rows of a file say nothing about generalisation: excluded
TOLERANCE = 1e-3  # probabilities of a row must sum to 1 within this (files round their decimals)
# filenames may carry an image extension the study's image ids lack (ISIC_0000000.jpg vs ISIC_0000000)
IMAGE_SUFFIX = re.compile(r"\.(jpe?g|png|bmp|tiff?)$", re.IGNORECASE)


class PredictionsError(ValueError):
    """A predictions file that cannot be scored; the message names the file, line and column."""


@dataclass
class ExternalPredictions:
    """Every scored row (val and test) of one file, after the class map; ``groups`` from the file's group
    column (None when it has none); ``counts`` how the rows read were used."""
    source: str
    format: str
    classes: list[str]
    image_ids: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    splits: np.ndarray
    groups: np.ndarray | None
    has_split: bool
    counts: dict[str, Any] = field(default_factory=dict)

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.splits == split)


def stripped_id(image_id: str) -> str:
    return IMAGE_SUFFIX.sub("", image_id)


def match_ids(image_ids: Sequence[str], known: Sequence[str] | set) -> np.ndarray:
    """Each id as ``known`` spells it: itself, else without its image extension (unchanged when neither)."""
    known = set(known)
    return np.array([i if i in known or stripped_id(i) not in known else stripped_id(i) for i in image_ids],
                    dtype=object).astype(str)


def load_class_map(class_map: Mapping | str | Path | None) -> dict[str, str | None] | None:
    """A class map as a dict of str -> class name or None, from a dict or a YAML/JSON file."""
    if class_map is None:
        return None
    if isinstance(class_map, (str, Path)):
        loaded = yaml.safe_load(Path(class_map).read_text(encoding="utf-8"))  # JSON is YAML
        if not isinstance(loaded, dict):
            raise PredictionsError(f"{class_map}: a class map is a mapping of file classes to class names or null")
        class_map = loaded
    return {str(k): (None if v is None else str(v)) for k, v in class_map.items()}


def _where(path: str, row: int, column: str | None = None) -> str:
    """``path, line L[, column C]`` of data row ``row`` (0-based; the header is line 1)."""
    return f"{path}, line {row + 2}" + (f", column {column!r}" if column else "")


def _read_csv(path: str | Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise PredictionsError(f"{path}: cannot read as CSV: {err}") from None
    table.columns = [c.strip() for c in table.columns]
    return table.apply(lambda c: c.str.strip())


def _require(table: pd.DataFrame, columns: Sequence[str], path: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise PredictionsError(f"{path}: missing column(s) {missing}; it has {list(table.columns)}")


def _numbers(table: pd.DataFrame, columns: Sequence[str], path: str, tolerance: float) -> np.ndarray:
    """The probability columns as floats, each finite and in [0, 1], each row summing to 1 (within tolerance)."""
    values = np.empty((len(table), len(columns)))
    for j, column in enumerate(columns):
        parsed = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(parsed) | (parsed < -tolerance) | (parsed > 1 + tolerance))
        if len(bad):
            raise PredictionsError(f"{_where(path, bad[0], column)}: {table[column].iloc[bad[0]]!r} is not a "
                                   "probability (a number in [0, 1])")
        values[:, j] = parsed
    off = np.flatnonzero(np.abs(values.sum(axis=1) - 1) > tolerance)
    if len(off):
        raise PredictionsError(f"{_where(path, off[0])}: the probabilities ({columns[0]}..{columns[-1]}) sum to "
                               f"{values[off[0]].sum():.6g}, not 1 within {tolerance:g} ({len(off)} such row(s))")
    return values


def _check_unique(ids: np.ndarray, splits: np.ndarray, path: str, id_column: str) -> None:
    seen: dict[tuple[str, str], int] = {}
    for row, key in enumerate(zip(ids.tolist(), splits.tolist())):
        if key in seen:
            raise PredictionsError(f"{_where(path, row, id_column)}: image {key[0]!r} is listed twice in split "
                                   f"{key[1]!r} (first on line {seen[key] + 2})")
        seen[key] = row


def _panderm(path: str, table: pd.DataFrame, classes: Sequence[str] | None, tolerance: float
             ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    _require(table, PANDERM_KEYS, path)
    indices = sorted(int(m.group(1)) for c in table.columns if (m := PROBABILITY.match(c)))
    if not indices:
        raise PredictionsError(f"{path}: missing columns probability_class_0..K-1")
    if indices != list(range(len(indices))):
        raise PredictionsError(f"{path}: probability columns must be probability_class_0..{len(indices) - 1} "
                               f"without gaps; found indices {indices}")
    k = len(indices)
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise PredictionsError(f"{path}: {k} probability columns but {len(names)} class names {names}")
    columns = [f"probability_class_{i}" for i in range(k)]
    probabilities = _numbers(table, columns, path, tolerance)
    index = {name: i for i, name in enumerate(names)}
    index.update({str(i): i for i in range(k) if str(i) not in index})  # an index unless a name reads the same
    labels = table["true_label"].map(index)
    unknown = np.flatnonzero(labels.isna().to_numpy())
    if len(unknown):
        row = unknown[0]
        raise PredictionsError(f"{_where(path, row, 'true_label')}: unknown label {table['true_label'].iloc[row]!r}; "
                               f"expected an index 0..{k - 1} or one of {names}")
    predicted = table["predicted_label"].map(index)
    disagree = int((predicted.to_numpy(dtype=float) != probabilities.argmax(axis=1)).sum())
    if disagree:  # the metrics use the argmax, as for the study's runs
        log.warning("%s: predicted_label differs from the argmax of the probabilities on %d row(s); the argmax is "
                    "scored", path, disagree)
    return names, table["filename"].to_numpy(dtype=str), labels.to_numpy(dtype=int), probabilities


def _isic(path: str, table: pd.DataFrame, ground_truth: str | Path | None, classes: Sequence[str] | None,
          extra: Sequence[str], tolerance: float) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    _require(table, ["image"], path)
    if ground_truth is None:
        raise PredictionsError(f"{path}: the ISIC submission format needs a ground-truth CSV (one-hot, same columns)")
    names = [str(c) for c in classes] if classes is not None else [c for c in table.columns
                                                                      if c != "image" and c not in extra]
    _require(table, names, path)
    probabilities = _numbers(table, names, path, tolerance)
    truth_path = str(ground_truth)
    truth = _read_csv(truth_path)
    _require(truth, ["image", *names], truth_path)
    _check_unique(truth["image"].to_numpy(dtype=str), np.zeros(len(truth), dtype=str), truth_path, "image")
    one_hot = truth[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.isin(one_hot, [0.0, 1.0]).all(axis=1) & (one_hot.sum(axis=1) == 1)))
    if len(bad):
        raise PredictionsError(f"{_where(truth_path, bad[0])}: the truth must be one-hot over {names} "
                               f"(exactly one 1, the rest 0)")
    position = pd.Series(np.arange(len(truth)), index=truth["image"].to_numpy(dtype=str))
    ids = table["image"].to_numpy(dtype=str)
    absent = np.flatnonzero(~np.isin(ids, position.index))
    if len(absent):
        raise PredictionsError(f"{_where(path, absent[0], 'image')}: image {ids[absent[0]]!r} has no row in the "
                               f"ground truth {truth_path}")
    unscored = sorted(set(position.index) - set(ids))
    if unscored:
        raise PredictionsError(f"{truth_path}: {len(unscored)} image(s) without a prediction in {path}, "
                               f"e.g. {unscored[:3]}")
    labels = one_hot[position.loc[ids].to_numpy()].argmax(axis=1)
    return names, ids, labels, probabilities


def _apply_class_map(path: str, names: list[str], class_map: Mapping[str, str | None] | None, labels: np.ndarray,
                     probabilities: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(classes, kept rows, labels, probabilities) after the map: merged columns summed, dropped ones removed and
    the rest renormalised; rows whose true class is dropped are not kept."""
    if class_map is None:
        return names, np.ones(len(labels), dtype=bool), labels, probabilities
    targets = []
    for i, name in enumerate(names):
        for key in (name, str(i)):
            if key in class_map:
                targets.append(class_map[key])
                break
        else:
            raise PredictionsError(f"{path}: the class map has no entry for the file's class {name!r} (index {i}); "
                                   "map it to a class name, or to null to drop it")
    classes = list(dict.fromkeys(t for t in targets if t is not None))
    if not classes:
        raise PredictionsError(f"{path}: the class map drops every class")
    merge = np.zeros((len(names), len(classes)))
    for i, target in enumerate(targets):
        if target is not None:
            merge[i, classes.index(target)] = 1.0
    file_to_class = np.array([-1 if t is None else classes.index(t) for t in targets])
    new_labels = file_to_class[labels]
    kept = new_labels >= 0
    mapped = probabilities @ merge
    mass = mapped.sum(axis=1)
    empty = np.flatnonzero(kept & (mass <= 0))
    if len(empty):
        raise PredictionsError(f"{_where(path, empty[0])}: every probability of the row is on classes the map drops")
    renormalised = int((kept & (np.abs(mass - 1) > TOLERANCE)).sum())
    if renormalised:  # what the model gives the kept classes, conditional on not being a dropped class
        log.info("%s: %d row(s) renormalised over the kept classes after dropping %s", path, renormalised,
                 [n for n, t in zip(names, targets) if t is None])
    with np.errstate(invalid="ignore", divide="ignore"):
        mapped = np.where(kept[:, None], mapped / mass[:, None], 0.0)
    return classes, kept, new_labels, mapped


def detect_format(table: pd.DataFrame, path: str) -> str:
    # any of PanDerm's columns: its schema, so that a missing one is named
    if set(PANDERM_KEYS) & set(table.columns) or any(PROBABILITY.match(c) for c in table.columns):
        return "panderm"
    if "image" in table.columns:
        return "isic"
    raise PredictionsError(f"{path}: neither PanDerm's columns {list(PANDERM_KEYS)} + probability_class_0..K-1 nor "
                           f"the ISIC submission's 'image' + class columns; it has {list(table.columns)}")


def read_external(path: str | Path, *, format: str = "auto", classes: Sequence[str] | None = None,
                  class_map: Mapping | str | Path | None = None, ground_truth: str | Path | None = None,
                  group_column: str | None = None, tolerance: float = TOLERANCE) -> ExternalPredictions:
    """The scored rows of one predictions file (module docstring); raises PredictionsError naming file and line."""
    path = str(path)
    if format not in FORMATS:
        raise PredictionsError(f"{path}: unknown format {format!r}; expected one of {FORMATS}")
    table = _read_csv(path)
    if table.empty:
        raise PredictionsError(f"{path}: no rows")
    format = detect_format(table, path) if format == "auto" else format
    extra = [c for c in (SPLIT_COLUMN, group_column) if c]
    if group_column:
        _require(table, [group_column], path)
    if format == "panderm":
        names, ids, labels, probabilities = _panderm(path, table, classes, tolerance)
        id_column = "filename"
    else:
        names, ids, labels, probabilities = _isic(path, table, ground_truth, classes, extra, tolerance)
        id_column = "image"
    has_split = SPLIT_COLUMN in table.columns
    splits = table[SPLIT_COLUMN].to_numpy(dtype=str) if has_split else np.full(len(table), "test")
    wrong = np.flatnonzero(~np.isin(splits, SPLITS))
    if len(wrong):
        raise PredictionsError(f"{_where(path, wrong[0], SPLIT_COLUMN)}: unknown split {splits[wrong[0]]!r}; "
                               f"expected one of {list(SPLITS)}")
    empty_ids = np.flatnonzero(ids == "")
    if len(empty_ids):
        raise PredictionsError(f"{_where(path, empty_ids[0], id_column)}: empty image name")
    _check_unique(ids, splits, path, id_column)
    classes_out, kept, labels, probabilities = _apply_class_map(path, names, load_class_map(class_map), labels,
                                                                probabilities)
    scored = kept & np.isin(splits, SCORED_SPLITS)
    groups = None
    if group_column:  # an image without a group is a group of its own
        cells = table[group_column].to_numpy(dtype=str)
        groups = np.where(cells == "", np.char.add("image:", ids.astype(str)), cells)[scored]
    counts = {"read": int(len(table)), "test": int((scored & (splits == "test")).sum()),
              "val": int((scored & (splits == "val")).sum()),
              "excluded_class": int((~kept).sum()),
              "excluded_split": int((kept & ~np.isin(splits, SCORED_SPLITS)).sum())}
    counts["excluded"] = counts["excluded_class"] + counts["excluded_split"]
    if counts["read"] != counts["test"] + counts["val"] + counts["excluded"]:  # a bug here, never the file's fault
        raise AssertionError(f"{path}: counts do not reconcile: {counts}")
    log.info("%s (%s): %d rows read = %d test + %d val + %d excluded (%d of a class the map drops, %d train)", path,
             format, counts["read"], counts["test"], counts["val"], counts["excluded"], counts["excluded_class"],
             counts["excluded_split"])
    if counts["test"] == 0:
        raise PredictionsError(f"{path}: no test rows to score (counts {counts})")
    return ExternalPredictions(path, format, classes_out, ids[scored], labels[scored], probabilities[scored],
                               splits[scored], groups, has_split, counts)
