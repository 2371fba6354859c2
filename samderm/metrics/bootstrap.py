"""A seeded bootstrap over groups of images (the images of one lesion are not independent).

A resample draws G groups with replacement out of G; image i then counts as often as its group was
drawn. All resamples are one weight matrix W (resamples x images), and every metric below is
computed for all resamples at once from W, so one matrix serves every metric and configuration.
A weight w is the same as repeating the image w times (scikit-learn's metric on the repeated rows)."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from samderm.metrics.calibration import weighted_ece

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")
# what every interval built on these resamples covers, for the captions of the tables that show one
INTERVAL_SCOPE = ("The resamples draw lesion groups of the test images only and take the mean over seeds in each "
                  "resample, so seed-to-seed variation is not in the interval: it is reported separately, as the sd "
                  "over seeds. In a resample that lacks a class, balanced accuracy averages the recall of the classes "
                  "in its truth, macro-F1 the F1 of the classes in its truth or predictions, and multi-class AUROC the "
                  "one-vs-rest AUROC of the classes with positives and negatives; resamples where a metric is "
                  "undefined (a binary AUROC with one class only) are left out.")


def group_weights(groups: Sequence, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_images) counts: how often each image's group is drawn in each resample.
    Groups are numbered in sorted order, so the matrix depends only on the set of groups and the seed."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    if n_groups == 0:
        raise ValueError("cannot resample zero images")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_resamples)
    return counts[:, codes].astype(float)


def full_sample(n_images: int) -> np.ndarray:
    """The weights of the original test set: every image once."""
    return np.ones((1, n_images))


def weighted_confusion(weights: np.ndarray, labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(resamples, n_classes, n_classes) confusion matrices, rows = truth, columns = prediction."""
    cell = np.asarray(labels, dtype=int) * n_classes + np.asarray(predicted, dtype=int)
    one_hot = np.zeros((len(cell), n_classes * n_classes))
    one_hot[np.arange(len(cell)), cell] = 1.0
    return (weights @ one_hot).reshape(len(weights), n_classes, n_classes)


def accuracy(confusion: np.ndarray) -> np.ndarray:
    return np.trace(confusion, axis1=1, axis2=2) / confusion.sum(axis=(1, 2))


def balanced_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present in the truth (scikit-learn's balanced_accuracy_score)."""
    support = confusion.sum(axis=2)
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
    return np.nanmean(recall, axis=1)


def macro_f1(confusion: np.ndarray) -> np.ndarray:
    """Mean F1 = 2 TP / (support + predicted) over the classes present in truth or prediction
    (scikit-learn's f1_score(average="macro") on the resampled rows)."""
    support, predicted = confusion.sum(axis=2), confusion.sum(axis=1)
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    present = (support + predicted) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * hits / (support + predicted), np.nan)
    return np.nanmean(f1, axis=1)


def binary_auroc(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUROC per resample: P(score of a positive > score of a negative), ties
    counting one half; NaN where a resample lacks positives or negatives."""
    order = np.argsort(score, kind="stable")
    sorted_score, sorted_positive = score[order], positive[order]
    w = weights[:, order]
    neg = w * ~sorted_positive
    tied = sorted_score[1:] == sorted_score[:-1]
    if tied.any():  # blocks of tied scores: negatives in a positive's block count one half
        starts = np.flatnonzero(np.r_[True, ~tied])
        pos_blocks = np.add.reduceat(w * sorted_positive, starts, axis=1)
        neg_blocks = np.add.reduceat(neg, starts, axis=1)
        pairs_won = np.einsum("bn,bn->b", pos_blocks, np.cumsum(neg_blocks, axis=1) - 0.5 * neg_blocks)
    else:  # an image is positive or negative, so the running sum of negatives at a positive counts those below it
        pairs_won = np.einsum("bn,bn->b", w[:, sorted_positive], np.cumsum(neg, axis=1)[:, sorted_positive])
    n_positive = weights @ positive.astype(float)
    pairs = n_positive * (weights.sum(axis=1) - n_positive)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, pairs_won / pairs, np.nan)


def auroc(weights: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Two classes: AUROC of the second class's probability. More: the macro mean of one-vs-rest
    AUROCs over the classes with positives and negatives in the resample (scikit-learn's
    roc_auc_score(multi_class="ovr") when every class is present)."""
    labels = np.asarray(labels, dtype=int)
    n_classes = probabilities.shape[1]
    if n_classes == 2:
        return binary_auroc(weights, labels == 1, probabilities[:, 1])
    per_class = np.stack([binary_auroc(weights, labels == k, probabilities[:, k]) for k in range(n_classes)], axis=1)
    with np.errstate(invalid="ignore"):
        defined = ~np.isnan(per_class)
        return np.where(defined.any(axis=1), np.nansum(per_class, axis=1) / np.maximum(defined.sum(axis=1), 1), np.nan)


def resampled_metrics(weights: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """(resamples, len(METRICS)) values of accuracy, balanced accuracy, macro-F1 and AUROC; the
    prediction is the argmax of ``probabilities`` (n_images, n_classes)."""
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels, dtype=int)
    confusion = weighted_confusion(weights, labels, probabilities.argmax(axis=1), probabilities.shape[1])
    return np.stack([accuracy(confusion), balanced_accuracy(confusion), macro_f1(confusion),
                     auroc(weights, labels, probabilities)], axis=1)


def percentile_interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0 (resamples); NaN resamples are left out."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    tail = (1 - level) / 2
    with warnings.catch_warnings():  # a metric undefined in every resample stays NaN, without a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(values, [tail, 1 - tail], axis=0)
    return low, high


def bootstrap_p_value(differences: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-value of a paired difference, along axis 0 (resamples): over the n resamples
    where the difference is defined (NaN resamples left out), p = min(1, 2 * min(share with difference <= 0,
    share with difference >= 0)); NaN where no resample is defined. p = 0 means no resample fell on the
    other side of zero, i.e. p < 2 / n at the resolution of n resamples."""
    differences = np.asarray(differences, dtype=float)
    defined = (~np.isnan(differences)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN compares False, so it counts on neither side
        at_most_zero = (differences <= 0).sum(axis=0) / defined
        at_least_zero = (differences >= 0).sum(axis=0) / defined
    return np.where(defined > 0, np.minimum(1.0, 2 * np.minimum(at_most_zero, at_least_zero)), np.nan)


# what the external-source and subgroup tables report: the classification metrics and the ECE
SIDE_METRICS = ("balanced_accuracy", "macro_f1", "auroc", "ece")


def side_metrics(weights: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, n_bins: int) -> np.ndarray:
    """(rows of ``weights``, len(SIDE_METRICS)): balanced accuracy, macro-F1, AUROC and ECE of each resample."""
    classification = resampled_metrics(weights, labels, probabilities)
    columns = {m: classification[:, METRICS.index(m)] for m in SIDE_METRICS if m in METRICS}
    columns["ece"] = weighted_ece(weights, labels, probabilities, n_bins)
    return np.stack([columns[m] for m in SIDE_METRICS], axis=1)
