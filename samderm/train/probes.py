"""Probe runs: one probe per task (samderm.heads.probes) fitted on the run's train rows, scored on every
original image like an MLP head, so the same tables, intervals and calibration read them."""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np

from samderm.heads.probes import build_probe
from samderm.matrix import MLP_SETTINGS
from samderm.train.data import RunData

log = logging.getLogger(__name__)
DESCRIBED = ("C_", "objective_", "val_scores_")  # what a fitted probe records about itself


def probe_settings(architecture: Mapping[str, Any], seed: int, selection_metric: str) -> dict[str, Any]:
    """build_probe's parameters of an ``architectures`` entry: its own keys, the run seed as random_state
    and, for the tuned linear probe, the study's selection metric."""
    settings = {k: v for k, v in architecture.items() if k not in ("type", *MLP_SETTINGS)}
    if architecture["type"] == "linear_probe":
        settings["random_state"] = seed
        if settings.get("protocol", "published") == "tuned":
            settings["selection_metric"] = selection_metric
        if "c_grid" in settings:
            settings["c_grid"] = tuple(float(c) for c in settings["c_grid"])
    return settings


def fit_probes(data: RunData, architecture: Mapping[str, Any], seed: int,
               selection_metric: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per task, the probabilities of every original view (rows ``np.flatnonzero(data.original)``) and a
    description of the fitted probe. A probe fitted on train + val (the published protocol) gives val
    the predictions of a second fit on train alone: val is where models, temperatures and thresholds
    are chosen, and in-sample val scores would choose it for having seen val."""
    name, settings = architecture["type"], probe_settings(architecture, seed, selection_metric)
    rows = np.flatnonzero(data.original)
    probabilities, described = {}, {}
    for j, (task, classes) in enumerate(data.tasks.items()):
        train, val = data.rows("train", task), data.rows("val", task)
        y = data.labels[:, j]
        probe = build_probe(name, settings, len(classes)).fit(data.features[train], y[train], data.features[val], y[val])
        p = probe.predict_proba(data.features[rows])
        in_sample = bool(getattr(probe, "combine_train_val", False))
        if in_sample:
            train_only = build_probe(name, {**settings, "combine_train_val": False}, len(classes))
            train_only.fit(data.features[train], y[train])
            is_val = data.split[rows] == "val"
            p[is_val] = train_only.predict_proba(data.features[rows[is_val]])
        probabilities[task] = p
        described[task] = {"probe": type(probe).__name__, "settings": _plain(settings), "train_rows": len(train),
                           "fitted_on": "train+val" if in_sample else "train",
                           "val_predictions_from": "train-only fit" if in_sample else "the same fit",
                           **{k.rstrip("_"): _plain(getattr(probe, k)) for k in DESCRIBED if hasattr(probe, k)}}
        log.info("task %s: %s fitted on %s (%d train rows)%s", task, type(probe).__name__, described[task]["fitted_on"],
                 len(train), f", C = {probe.C_:.4g}" if hasattr(probe, "C_") else "")
    return probabilities, described


def _plain(value: Any) -> Any:
    """JSON-ready: tuples as lists, numpy numbers as floats, dict keys as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
