"""Whether a run's test predictions collapsed: nearly all into one class, or no better than chance.

Two rules, either one flags the run:

* ``one_class_share``: the most predicted class holds more than ``max_share`` of the predictions
  (strictly: exactly ``max_share`` is not flagged).
* ``near_chance``: the balanced accuracy (scikit-learn's ``balanced_accuracy_score``, the mean recall over
  the classes present in the labels) lies within ``chance_margin`` of chance = 1 / K, either side, the
  boundary included (up to float rounding, ``ROUNDING``)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import balanced_accuracy_score

MAX_SHARE = 0.9
CHANCE_MARGIN = 0.02
ROUNDING = 1e-12  # so 0.27 counts as within 0.02 of 0.25, though 0.27 - 0.25 > 0.02 in floats
ONE_CLASS_SHARE, NEAR_CHANCE = "one_class_share", "near_chance"
HEALTHY = "none"  # the reason when no rule fires


@dataclass(frozen=True)
class CollapseCheck:
    """The verdict on one run: ``reason`` names each rule that fired (``; ``-joined, each with its numbers), or
    ``none``; ``top_class`` is the index of the most predicted class (the lowest index on a tie)."""
    collapsed: bool
    reason: str
    top_class: int
    top_share: float
    balanced_accuracy: float
    chance: float


def collapse_check(labels: np.ndarray, predicted: np.ndarray, n_classes: int, *, max_share: float = MAX_SHARE,
                   chance_margin: float = CHANCE_MARGIN) -> CollapseCheck:
    """Apply both rules (module docstring) to integer ``labels`` and ``predicted`` classes in 0..n_classes-1."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    if not 0 < max_share <= 1 or chance_margin < 0:
        raise ValueError(f"max_share must lie in (0, 1] and chance_margin be >= 0, got {max_share}, {chance_margin}")
    if labels.ndim != 1 or labels.shape != predicted.shape or len(labels) == 0:
        raise ValueError(f"labels {labels.shape} and predicted {predicted.shape} must be 1-D, equal and non-empty")
    for name, values in (("labels", labels), ("predicted", predicted)):
        if not np.isin(values, np.arange(n_classes)).all():
            raise ValueError(f"{name} must be class indices 0..{n_classes - 1}")
    counts = np.bincount(predicted.astype(int), minlength=n_classes)
    top_class = int(np.argmax(counts))
    top_share = counts[top_class] / len(predicted)
    with warnings.catch_warnings():  # a collapsed run predicts classes absent from the labels: expected here
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(labels, predicted))
    chance = 1 / n_classes
    fired = []
    if top_share > max_share:
        fired.append(f"{ONE_CLASS_SHARE}: {top_share:.3f} of predictions are class {top_class} (> {max_share})")
    if abs(balanced - chance) <= chance_margin + ROUNDING:
        fired.append(f"{NEAR_CHANCE}: balanced accuracy {balanced:.3f} within {chance_margin} of 1/{n_classes}")
    return CollapseCheck(bool(fired), "; ".join(fired) or HEALTHY, top_class, float(top_share), balanced, chance)
