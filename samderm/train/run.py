"""File-level entry points of the train rules: read the inputs, train heads or probes, write a run directory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from samderm.data.label_fraction import apply_label_fraction
from samderm.heads import save_head
from samderm.io import read_tsv, write_json, write_tsv
from samderm.losses import resolve_drw_epoch
from samderm.train.data import RunData, build_run_data, external_views
from samderm.train.fit import train_heads
from samderm.train.outputs import HISTORY_COLUMNS, prediction_table, probability_table, unk_column, write_run_outputs
from samderm.train.probes import fit_probes
from samderm.train.semi_supervised import empty_table, semi_supervised_fit
from samderm.train.tasks import held_out_classes, task_classes

log = logging.getLogger(__name__)


def train_run(manifest: str | Path, splits: str | Path, views: str | Path, store_dirs: Sequence[str | Path],
              params: Mapping[str, Any], out_dir: str | Path, threads: int = 1) -> dict[str, Any]:
    """``params`` as run_params() gives them: experiment, loss, architecture, labels, training,
    isic_submission, run; semi-supervised runs also ood (tpr) and data (near_duplicate_bits)."""
    torch.set_num_threads(max(1, int(threads)))
    inputs = load_run_inputs(manifest, splits, views, store_dirs, params)
    data, tasks = inputs.data, inputs.data.tasks
    manifest_table, splits_table, view_ids, features = inputs.manifest, inputs.splits, inputs.view_ids, inputs.features
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
    return write_run_outputs(out, run, prediction_table(model, data), tasks, unk_column=unk_column(params))


def probe_run(manifest: str | Path, splits: str | Path, views: str | Path, store_dirs: Sequence[str | Path],
              params: Mapping[str, Any], out_dir: str | Path, threads: int = 1) -> dict[str, Any]:
    """A probe per task on the run's features (``params`` as for train_run, plus selection_metric);
    probe.json describes each fitted probe, history.tsv is header-only (no epochs)."""
    torch.set_num_threads(max(1, int(threads)))
    data = load_run_inputs(manifest, splits, views, store_dirs, params).data
    run = params["run"]
    log.info("probe %s", "/".join(str(v) for v in run.values()))
    with threadpool_limits(max(1, int(threads))):
        probabilities, described = fit_probes(data, params["architecture"], int(run["seed"]), params["selection_metric"])
    out = Path(out_dir)
    write_json({"run": dict(run), "tasks": described}, out / "probe.json")
    write_tsv(pd.DataFrame(columns=HISTORY_COLUMNS), out / "history.tsv")
    return write_run_outputs(out, run, probability_table(data, np.flatnonzero(data.original), probabilities),
                             data.tasks, unk_column=unk_column(params))


@dataclass
class RunInputs:
    data: RunData
    manifest: pd.DataFrame
    splits: pd.DataFrame
    view_ids: list[str]
    features: np.ndarray


def load_run_inputs(manifest: str | Path, splits: str | Path, views: str | Path, store_dirs: Sequence[str | Path],
                    params: Mapping[str, Any]) -> RunInputs:
    """The run's data (its experiment's views, labels, held-out classes) and the tables it came from."""
    from samderm.features.store import load_features  # the features part owns the store format

    held_out = held_out_classes(params)
    tasks = task_classes(params["labels"], held_out)
    view_ids, features = load_features([str(d) for d in store_dirs])
    manifest_table, splits_table, views_table = read_tsv(manifest), read_tsv(splits), read_tsv(views)
    fraction = float(params["experiment"].get("label_fraction", 1.0))
    if fraction < 1:  # experiments.<name>.label_fraction: each seed keeps its own draw of training lesion groups
        views_table, kept = apply_label_fraction(views_table, manifest_table, splits_table, fraction,
                                                 int(params["run"]["seed"]))
        log.info("label_fraction %g, training lesion groups and images kept per class:\n%s", fraction,
                 kept.to_string(index=False))
    if params.get("external"):  # evaluation.external: every head also predicts these sources' images
        views_table = pd.concat([views_table, external_views(manifest_table, splits_table, params["external"])],
                                ignore_index=True)
    data = build_run_data(views_table, manifest_table, view_ids, features, tasks, splits=splits_table,
                          held_out=held_out)
    return RunInputs(data, manifest_table, splits_table, view_ids, features)
