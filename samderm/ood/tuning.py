"""Hyper-parameters chosen on validation data only: in-distribution val vs OOD val."""

from __future__ import annotations

import itertools
import logging
from typing import Any, Callable

import numpy as np

from samderm.ood.errors import HyperParameterOutOfRange
from samderm.ood.metrics import ood_metrics

log = logging.getLogger("samderm.ood")

# every tuned constructor argument, in the column order of tuning.tsv
HYPER_PARAMETERS = ("temperature", "epsilon", "k", "principal_dim", "gamma", "top_m")
# config key of each detector's grid: ood.{detector}.{key} -> (argument, type)
GRIDS = {
    "odin": {"temperatures": ("temperature", float), "epsilons": ("epsilon", float)},
    "energy": {"temperatures": ("temperature", float)},
    "knn": {"ks": ("k", int)},
    "vim": {"principal_dims": ("principal_dim", int)},
    "gen": {"gammas": ("gamma", float), "top_ms": ("top_m", int)},
}
INTEGER_PARAMETERS = tuple(argument for grid in GRIDS.values() for argument, kind in grid.values() if kind is int)
UNTUNED = ("msp", "mahalanobis", "relative_mahalanobis", "maxlogit")


def detector_grid(detector: str, ood: dict[str, Any]) -> list[dict[str, Any]]:
    """Constructor arguments to try for one detector, from the `ood` config section, in grid order
    (the product of its value lists, the first list varying slowest)."""
    if detector in UNTUNED:
        return [{}]
    if detector not in GRIDS:
        raise ValueError(f"unknown OOD detector {detector!r} in ood.detectors")
    axes = []
    for key, (argument, kind) in GRIDS[detector].items():
        values = ood.get(detector, {}).get(key)
        if not values:
            raise ValueError(f"ood.{detector}.{key} must list at least one value to tune {detector} on val")
        axes.append([(argument, kind(v)) for v in values])
    return [dict(point) for point in itertools.product(*axes)]


def tune(
    make: Callable[..., Any],
    grid: list[dict[str, Any]],
    fit_args: tuple,
    val_id: np.ndarray,
    val_ood: np.ndarray,
) -> tuple[Any, list[dict[str, Any]]]:
    """Fit `make(**params)` for every grid point, score the val features, keep the highest val
    AUROC (the first in grid order on ties). A grid point the training data cannot support (e.g.
    k above the number of training images) is skipped with a warning. Returns the chosen fitted
    detector and one record per fitted grid point (its params, val metrics, `chosen`). Test data never enters."""
    if not grid:
        raise ValueError("empty hyper-parameter grid")
    records, detectors, skipped = [], [], []
    for params in grid:
        try:
            detector = make(**params).fit(*fit_args)
        except HyperParameterOutOfRange as reason:
            log.warning("skipped %s: %s", params, reason)
            skipped.append(str(reason))
            continue
        metrics = ood_metrics(detector.predict(val_id), detector.predict(val_ood))
        records.append({**params, **{f"val_{k}": v for k, v in metrics.items()}, "chosen": False})
        detectors.append(detector)
    if not records:
        raise ValueError(f"no grid point of {getattr(make, '__name__', make)} fits the training data: {'; '.join(skipped)}")
    best = int(np.argmax([r["val_auroc"] for r in records]))
    records[best]["chosen"] = True
    return detectors[best], records
