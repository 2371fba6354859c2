"""File-level entry points of the train rules: read the inputs, train or ensemble, write a run directory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import torch

from samderm.heads import save_head
from samderm.io import read_tsv, write_tsv
from samderm.losses import resolve_drw_epoch
from samderm.train.data import build_run_data
from samderm.train.ensemble import average_predictions
from samderm.train.fit import HISTORY_COLUMNS, train_heads
from samderm.train.outputs import prediction_table, write_run_outputs
from samderm.train.semi_supervised import empty_table, semi_supervised_fit
from samderm.train.tasks import task_classes

log = logging.getLogger(__name__)


def train_run(manifest: str | Path, splits: str | Path, views: str | Path, store_dirs: Sequence[str | Path],
              params: Mapping[str, Any], out_dir: str | Path, threads: int = 1) -> dict[str, Any]:
    """``params`` as run_params() gives them: experiment, loss, architecture, labels, training,
    isic_submission, run; semi-supervised runs also ood (tpr) and data (near_duplicate_bits)."""
    from samderm.features.store import load_features  # the features part owns the store format

    torch.set_num_threads(max(1, int(threads)))
    held_out = held_out_classes(params)
    tasks = task_classes(params["labels"], held_out)
    view_ids, features = load_features([str(d) for d in store_dirs])
    manifest_table, splits_table = read_tsv(manifest), read_tsv(splits)
    data = build_run_data(read_tsv(views), manifest_table, view_ids, features, tasks, splits=splits_table,
                          held_out=held_out)
    run = params["run"]
    log.info("training %s", "/".join(str(v) for v in run.values()))
    loss = resolve_drw_epoch(params["loss"], int(params["experiment"]["epochs"]))
    if loss.get("drw_epoch") is not None:
        log.info("deferred re-weighting from epoch %d of %d", loss["drw_epoch"], params["experiment"]["epochs"])

    def fit(rows):
        return train_heads(rows, params["architecture"], loss, params["experiment"],
                           seed=int(run["seed"]), device=params["training"].get("device", "auto"))

    semi = params["experiment"].get("semi_supervised")
    if semi:  # the pool gated by this run's supervised model, then retrained with pseudo-labels
        model, history, pseudo_labels = semi_supervised_fit(data, manifest_table, splits_table, view_ids, features, semi,
                                                            fit, float(params["ood"]["tpr"]),
                                                            params.get("data", {}).get("near_duplicate_bits"))
    else:
        (model, history), pseudo_labels = fit(data), empty_table()
    out = Path(out_dir)
    save_head(model, out / "model.pt")
    write_tsv(history, out / "history.tsv")
    write_tsv(pseudo_labels, out / "semi_supervised.tsv")
    return write_run_outputs(out, run, prediction_table(model, data), tasks, unk_column=_unk_column(params))


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
                             unk_column=_unk_column(params))


def held_out_classes(params: Mapping[str, Any]) -> list[str]:
    """The lesion classes the experiment trains without (the open-set protocol)."""
    return list(params["experiment"].get("held_out_classes") or [])


def _unk_column(params: Mapping[str, Any]) -> bool:
    return bool(params.get("isic_submission", {}).get("unk_column", False))
