"""Hyper-parameters chosen on validation data only: in-distribution val vs OOD val."""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np

from samderm.ood.metrics import ood_metrics


def detector_grid(detector: str, ood: dict[str, Any]) -> list[dict[str, Any]]:
    """Constructor arguments to try for one detector, from the `ood` config section, in grid order."""
    if detector == "odin":
        grid = ood["odin"]
        return [{"temperature": float(t), "epsilon": float(e)} for t, e in itertools.product(grid["temperatures"], grid["epsilons"])]
    if detector == "energy":
        return [{"temperature": float(t)} for t in ood["energy"]["temperatures"]]
    if detector in ("msp", "mahalanobis"):
        return [{}]
    raise ValueError(f"unknown OOD detector {detector!r} in ood.detectors")


def tune(
    make: Callable[..., Any],
    grid: list[dict[str, Any]],
    fit_args: tuple,
    val_id: np.ndarray,
    val_ood: np.ndarray,
) -> tuple[Any, list[dict[str, Any]]]:
    """Fit `make(**params)` for every grid point, score the val features, keep the highest val
    AUROC (the first in grid order on ties). Returns the chosen fitted detector and one record
    per grid point (its params, val metrics, `chosen`). Test data never enters."""
    if not grid:
        raise ValueError("empty hyper-parameter grid")
    records, detectors = [], []
    for params in grid:
        detector = make(**params).fit(*fit_args)
        metrics = ood_metrics(detector.predict(val_id), detector.predict(val_ood))
        records.append({**params, **{f"val_{k}": v for k, v in metrics.items()}, "chosen": False})
        detectors.append(detector)
    best = int(np.argmax([r["val_auroc"] for r in records]))
    records[best]["chosen"] = True
    return detectors[best], records
