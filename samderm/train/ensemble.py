"""The ensemble architecture: averaged class probabilities of trained member runs (no training)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.io import read_tsv, write_tsv
from samderm.train.outputs import (HISTORY_COLUMNS, KEY_COLUMNS, finish_predictions, probability_columns, unk_column,
                                   write_run_outputs)
from samderm.train.tasks import held_out_classes, task_classes

log = logging.getLogger(__name__)


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


def ensemble_run(member_predictions: Sequence[str | Path], params: Mapping[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Average the members' predictions.tsv; history.tsv is written header-only (nothing trained)."""
    tasks = task_classes(params["labels"], held_out_classes(params))
    members = [read_tsv(p) for p in member_predictions]
    predictions = average_predictions(members, tasks, names=[str(p) for p in member_predictions])
    log.info("ensemble of %d members: %s", len(members), ", ".join(map(str, member_predictions)))
    out = Path(out_dir)
    write_tsv(pd.DataFrame(columns=HISTORY_COLUMNS), out / "history.tsv")
    return write_run_outputs(out, params["run"], predictions, tasks,
                             extra={"members": list(params["architecture"].get("members", []))},
                             unk_column=unk_column(params))
