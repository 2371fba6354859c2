"""Operating points of a binary score (p(malignant), or one class's probability one-vs-rest): a threshold
chosen on the val images for a target specificity or sensitivity, then applied unchanged to the test images,
with group-bootstrap intervals on test; and the one-vs-rest AUROC of every class with its interval.

The rule, for val scores with both positives and negatives:

* An image is predicted positive when ``score >= t``. The candidate thresholds are the distinct val scores
  and +inf (every image predicted negative). Tied val scores fall on the same side of every candidate, so a
  tie is never split, and a threshold between two neighbouring val scores would give the same val
  predictions as the candidate just above it.
* ``sensitivity@specificity{s}``: t = the smallest candidate whose val specificity (share of the val
  negatives with ``score < t``) is >= s; the most val sensitivity that keeps the specificity.
* ``specificity@sensitivity{s}``: t = the largest candidate whose val sensitivity (share of the val
  positives with ``score >= t``) is >= s; the most val specificity that keeps the sensitivity.

A share is compared with s as count / n (correctly rounded, so 9 of 10 equals 0.90). On test, the threshold
stays fixed and only the test images are resampled: a row of the weight matrix (``group_weights``: resamples x
test images) weights each test image's vote, and the interval is the percentile interval over resamples
(a resample without positives, or without negatives, is left out of that rate's interval)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from samderm.metrics.bootstrap import binary_auroc, full_sample, percentile_interval

SPECIFICITIES = (0.80, 0.90, 0.95)  # sensitivity is reported at each
SENSITIVITIES = (0.95,)  # specificity is reported at each
INTERVAL_COLUMNS = ("n_test", "n_groups", "n_resamples", "level")
OPERATING_POINT_COLUMNS = ["target", "operating_point", "threshold", "val_sensitivity", "val_specificity",
                           "test_sensitivity_value", "test_sensitivity_low", "test_sensitivity_high",
                           "test_specificity_value", "test_specificity_low", "test_specificity_high",
                           *INTERVAL_COLUMNS]
AUROC_COLUMNS = ["target", "n_positive", "auroc_value", "auroc_low", "auroc_high", *INTERVAL_COLUMNS]


def class_score(labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str],
                positive_class: str) -> tuple[np.ndarray, np.ndarray]:
    """(is positive, score) of ``positive_class`` one-vs-rest: e.g. "malignant" of the malignancy task or
    "MEL" of the lesion task; ``labels`` are indices into ``classes``, ``probabilities`` (images, classes)."""
    classes = list(classes)
    if positive_class not in classes:
        raise ValueError(f"positive class {positive_class!r} is not one of the classes {classes}")
    k = classes.index(positive_class)
    return np.asarray(labels, dtype=int) == k, np.asarray(probabilities, dtype=float)[:, k]


def checked_binary(positive: np.ndarray, score: np.ndarray, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``positive`` as booleans and ``score`` as floats, after checking that they pair up, that every score
    is finite and that both positives and negatives are present (each missing one is named)."""
    positive, score = np.asarray(positive), np.asarray(score, dtype=float)
    if positive.ndim != 1 or positive.shape != score.shape:
        raise ValueError(f"{split}: labels {positive.shape} and scores {score.shape} must be 1-D of the same length")
    if not np.isin(positive, [0, 1]).all():
        raise ValueError(f"{split}: labels must be booleans or 0/1 (is the image positive)")
    if not np.isfinite(score).all():
        raise ValueError(f"{split}: {int((~np.isfinite(score)).sum())} score(s) are NaN or infinite")
    positive = positive.astype(bool)
    missing = [name for name, n in (("positives", positive.sum()), ("negatives", (~positive).sum())) if n == 0]
    if missing:
        raise ValueError(f"{split}: no {' and no '.join(missing)} among its {len(positive)} images; "
                         "an operating point needs both")
    return positive, score


def _candidate_rates(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate thresholds (distinct scores, then +inf) and the sensitivity and specificity at each."""
    candidates = np.append(np.unique(score), np.inf)
    positives, negatives = np.sort(score[positive]), np.sort(score[~positive])
    sensitivity = (len(positives) - np.searchsorted(positives, candidates, side="left")) / len(positives)
    specificity = np.searchsorted(negatives, candidates, side="left") / len(negatives)
    return candidates, sensitivity, specificity


def _check_rate(rate: float, name: str) -> None:
    if not 0 < rate <= 1:
        raise ValueError(f"target {name} must lie in (0, 1], got {rate}")


def threshold_at_specificity(positive: np.ndarray, score: np.ndarray, specificity: float) -> float:
    """The smallest candidate threshold whose specificity on these images is >= ``specificity``."""
    _check_rate(specificity, "specificity")
    candidates, _, reached = _candidate_rates(*checked_binary(positive, score, "val"))
    return float(candidates[np.argmax(reached >= specificity)])  # +inf always reaches it


def threshold_at_sensitivity(positive: np.ndarray, score: np.ndarray, sensitivity: float) -> float:
    """The largest candidate threshold whose sensitivity on these images is >= ``sensitivity``."""
    _check_rate(sensitivity, "sensitivity")
    candidates, reached, _ = _candidate_rates(*checked_binary(positive, score, "val"))
    return float(candidates[np.flatnonzero(reached >= sensitivity)[-1]])  # the lowest score reaches 1


def weighted_rates(weights: np.ndarray, positive: np.ndarray, score: np.ndarray,
                   threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(sensitivity, specificity) per resample at a fixed threshold (positive = score >= threshold); NaN where
    a resample has no positives (sensitivity) or no negatives (specificity)."""
    called = score >= threshold
    n_positive, n_negative = weights @ positive, weights @ ~positive
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(n_positive > 0, (weights @ (positive & called)) / n_positive, np.nan),
                np.where(n_negative > 0, (weights @ (~positive & ~called)) / n_negative, np.nan))


def checked_weights(weights: np.ndarray, groups: Sequence, n_images: int) -> tuple[np.ndarray, int]:
    """The weight matrix and the number of groups, after checking that weights and groups have one entry per
    test image and that the images of a group always count alike (so ``weights`` resamples these ``groups``)."""
    weights, groups = np.asarray(weights, dtype=float), np.asarray(groups).astype(str)
    if len(groups) != n_images:
        raise ValueError(f"{len(groups)} groups for {n_images} test images")
    if weights.ndim != 2 or weights.shape[1] != n_images:
        raise ValueError(f"weights {weights.shape} must be (resamples, {n_images} test images)")
    _, first, codes = np.unique(groups, return_index=True, return_inverse=True)
    if not np.array_equal(weights, weights[:, first[codes]]):
        raise ValueError("weights differ between images of one group: they must come from group_weights(groups)")
    return weights, len(first)


def _interval_fields(weights: np.ndarray, n_groups: int, level: float) -> list:
    return [weights.shape[1], n_groups, len(weights), level]


def operating_points(val_positive: np.ndarray, val_score: np.ndarray, test_positive: np.ndarray,
                     test_score: np.ndarray, weights: np.ndarray, groups: Sequence, *, target: str, level: float,
                     specificities: Sequence[float] = SPECIFICITIES,
                     sensitivities: Sequence[float] = SENSITIVITIES) -> pd.DataFrame:
    """One row per operating point (``OPERATING_POINT_COLUMNS``): the val-chosen threshold (module docstring),
    the val rates it gives, and the test sensitivity and specificity at it: value on all test images, low and
    high the ``level`` percentile interval over the rows of ``weights`` (resamples x test images, from
    ``group_weights(groups, ...)``; ``groups`` = each test image's group)."""
    val_positive, val_score = checked_binary(val_positive, val_score, "val")
    test_positive, test_score = checked_binary(test_positive, test_score, "test")
    weights, n_groups = checked_weights(weights, groups, len(test_score))
    chosen = [(f"sensitivity@specificity{s:.2f}", threshold_at_specificity(val_positive, val_score, s))
              for s in specificities]
    chosen += [(f"specificity@sensitivity{s:.2f}", threshold_at_sensitivity(val_positive, val_score, s))
               for s in sensitivities]
    rows = []
    for name, threshold in chosen:
        (val_sens,), (val_spec,) = weighted_rates(full_sample(len(val_score)), val_positive, val_score, threshold)
        (test_sens,), (test_spec,) = weighted_rates(full_sample(len(test_score)), test_positive, test_score,
                                                    threshold)
        resampled_sens, resampled_spec = weighted_rates(weights, test_positive, test_score, threshold)
        sens_low, sens_high = percentile_interval(resampled_sens, level)
        spec_low, spec_high = percentile_interval(resampled_spec, level)
        rows.append([target, name, threshold, val_sens, val_spec, test_sens, sens_low, sens_high, test_spec,
                     spec_low, spec_high, *_interval_fields(weights, n_groups, level)])
    return pd.DataFrame(rows, columns=OPERATING_POINT_COLUMNS)


def one_vs_rest_auroc(labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str], weights: np.ndarray,
                      groups: Sequence, *, level: float) -> pd.DataFrame:
    """One row per class (``AUROC_COLUMNS``): the one-vs-rest AUROC of its probability on all test images
    (``binary_auroc``, ties counting one half) and its ``level`` percentile interval over the rows of
    ``weights``; NaN for a class without test positives (``n_positive`` 0) or without negatives."""
    labels, probabilities = np.asarray(labels), np.asarray(probabilities, dtype=float)
    if not np.isin(labels, np.arange(len(classes))).all():
        raise ValueError(f"labels must be class indices 0..{len(classes) - 1} of {list(classes)}")
    if probabilities.shape != (len(labels), len(classes)):
        raise ValueError(f"probabilities {probabilities.shape} must be ({len(labels)} images, {len(classes)} classes)")
    if not np.isfinite(probabilities).all():
        raise ValueError(f"{int((~np.isfinite(probabilities)).sum())} probabilities are NaN or infinite")
    weights, n_groups = checked_weights(weights, groups, len(labels))
    rows = []
    for name in classes:
        positive, score = class_score(labels, probabilities, classes, name)
        (value,) = binary_auroc(full_sample(len(score)), positive, score)
        low, high = percentile_interval(binary_auroc(weights, positive, score), level)
        rows.append([name, int(positive.sum()), value, low, high, *_interval_fields(weights, n_groups, level)])
    return pd.DataFrame(rows, columns=AUROC_COLUMNS)
