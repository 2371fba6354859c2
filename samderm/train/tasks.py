"""The three tasks, their classes, and each view's label per task (-1 = the task does not apply)."""

from __future__ import annotations

from typing import Any, Collection, Mapping

import numpy as np
import pandas as pd

from samderm.data.labels import UNK

SOURCES = ("lesion", "not_skin", "external")  # external: test sources (data.sources), never trained on
NO_LABEL = -1


def task_classes(labels_cfg: Mapping[str, Any], held_out: Collection[str] = ()) -> dict[str, list[str]]:
    """Classes of each task from the ``labels`` config section (+ ``unk``: keep adds UNK last),
    without the ``held_out`` lesion classes (experiments.<name>.held_out_classes)."""
    lesion = list(labels_cfg["lesion_classes"]) + ([UNK] if labels_cfg.get("unk") == "keep" else [])
    unknown = sorted(set(held_out) - set(lesion))
    if unknown:
        raise ValueError(f"held_out_classes: {unknown} are not lesion classes {lesion}")
    lesion = [c for c in lesion if c not in set(held_out)]
    if len(lesion) < 2:
        raise ValueError(f"held_out_classes: {sorted(held_out)} leave the lesion task {len(lesion)} class(es); it needs 2")
    return {"skin": ["not_skin", "skin"], "lesion": lesion, "malignancy": ["benign", "malignant"]}


def held_out_classes(params: Mapping[str, Any]) -> list[str]:
    """The lesion classes a run's experiment trains without (the open-set protocol)."""
    return list(params["experiment"].get("held_out_classes") or [])


def _index(values: pd.Series, applies: pd.Series, classes: list[str], task: str, image_ids: pd.Series) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    codes = values.map(lookup)
    bad = applies & codes.isna()
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise ValueError(f"image {image_ids.iloc[i]!r}: {task} label {values.iloc[i]!r} is not one of {classes} "
                         f"({int(bad.sum())} such rows)")
    return np.where(applies, codes.fillna(NO_LABEL), NO_LABEL).astype(np.int64)


def label_matrix(rows: pd.DataFrame, tasks: Mapping[str, list[str]], held_out: Collection[str] = ()) -> np.ndarray:
    """(N, T) class indices in ``tasks`` order (any subset of the three) from manifest columns source,
    lesion_class, malignancy. skin: every row (an external image is skin); lesion: lesion rows with a class
    not ``held_out`` (an external class without a mapping has none); malignancy: lesion rows that have one."""
    bad = ~rows["source"].isin(SOURCES)
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise ValueError(f"image {rows['image_id'].iloc[i]!r}: source {rows['source'].iloc[i]!r} cannot be trained on "
                         f"(expected {' or '.join(SOURCES)})")
    is_lesion = rows["source"].isin(["lesion", "external"])
    values_and_rows = {
        "skin": lambda: (rows["source"].map({"lesion": "skin", "external": "skin", "not_skin": "not_skin"}),
                         pd.Series(True, index=rows.index)),
        "lesion": lambda: (rows["lesion_class"],
                           is_lesion & (rows["lesion_class"] != "") & ~rows["lesion_class"].isin(list(held_out))),
        "malignancy": lambda: (rows["malignancy"], is_lesion & (rows["malignancy"] != "")),
    }
    return np.stack([_index(*values_and_rows[t](), list(classes), t, rows["image_id"]) for t, classes in tasks.items()], axis=1)
