"""The ensemble architecture: averaged class probabilities of trained member runs (no training)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.train.outputs import KEY_COLUMNS, finish_predictions, probability_columns


def average_predictions(members: Sequence[pd.DataFrame], tasks: Mapping[str, list[str]],
                        names: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean of the members' probabilities per (image, task); members must cover exactly the
    same (image_id, split, task, label) rows."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    names = list(names or [f"member {i}" for i in range(len(members))])
    columns = probability_columns(tasks)
    keyed = []
    for name, table in zip(names, members):
        missing = [c for c in KEY_COLUMNS + columns if c not in table.columns]
        if missing:
            raise ValueError(f"{name}: predictions lack column(s) {missing}")
        if table.duplicated(["image_id", "task"]).any():
            raise ValueError(f"{name}: duplicate (image_id, task) rows")
        keyed.append(table.set_index(KEY_COLUMNS).sort_index())
    first = keyed[0]
    for name, table in zip(names[1:], keyed[1:]):
        if not first.index.equals(table.index):
            diff = first.index.symmetric_difference(table.index)
            raise ValueError(f"{name}: predictions cover other rows than {names[0]} "
                             f"({len(diff)} differ, e.g. {list(diff[:3])})")
    # empty cells (other tasks' classes) stay empty: the mean of all-NaN columns is NaN
    mean = sum(t[columns].replace("", np.nan).astype(float) for t in keyed) / len(keyed)
    return finish_predictions(mean.reset_index(), tasks)
