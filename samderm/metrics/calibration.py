"""Calibration of predicted probabilities: expected calibration error (equal-width and equal-mass
bins), negative log-likelihood and Brier score, and temperature scaling (Guo et al. 2017), which keeps
T = 1 and says why where the validation predictions cannot identify a temperature.

NLL and Brier come from scikit-learn; ECE is binned by hand because scikit-learn's
``calibration_curve`` drops empty bins and does not return the bin sizes that ECE weights by."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.metrics import brier_score_loss, log_loss

BINNINGS = ("width", "mass")
# probabilities are clipped here before taking logs, so a hard 0 gives a finite logit; the heads write
# float32 probabilities, so below float32's smallest normal value nothing is known (a higher clip flattens logits)
TINY = float(np.finfo(np.float32).tiny)
# temperatures searched: log T in [-LOG_T_BOUND, LOG_T_BOUND]
LOG_T_BOUND = 5.0
# an optimum this close to a bound (in log T) is taken as the search's edge, not a fitted T
BOUND_MARGIN = 0.01
# a bound whose NLL is this close to the optimum's is as good: the NLL is flat out to the bound
FLAT_NLL = 1e-12
# why a temperature is what it is: fitted, or kept at 1 because val cannot identify it
FITTED, VAL_ERROR_FREE, AT_SEARCH_BOUND = "fitted", "val_error_free", "at_search_bound"
TEMPERATURE_STATUSES = (FITTED, VAL_ERROR_FREE, AT_SEARCH_BOUND)


@dataclass(frozen=True)
class ReliabilityBins:
    """Top-label reliability per bin: mean confidence, accuracy and the number of predictions."""
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray


def _bin_index(confidence: np.ndarray, n_bins: int, binning: str) -> np.ndarray:
    """The bin of each prediction. width: (k/n, (k+1)/n] with 0 in the first bin;
    mass: predictions sorted by confidence (stable) and split into n near-equal runs."""
    if binning == "width":
        return np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    if binning == "mass":
        index = np.empty(len(confidence), dtype=int)
        order = np.argsort(confidence, kind="stable")
        for k, part in enumerate(np.array_split(order, n_bins)):
            index[part] = k
        return index
    raise ValueError(f"unknown binning {binning!r}; expected one of {BINNINGS}")


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, n_bins: int, binning: str = "width") -> ReliabilityBins:
    """Top-label confidence (max probability) vs accuracy (argmax == label) in ``n_bins`` bins."""
    probabilities, labels = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=int)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(float)
    index = _bin_index(confidence, n_bins, binning)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=n_bins) / count
        accuracy = np.bincount(index, correct, minlength=n_bins) / count
    return ReliabilityBins(mean_confidence, accuracy, count)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, n_bins: int,
                               binning: str = "width") -> float:
    """ECE = sum over bins of (bin size / N) * |accuracy - mean confidence| (Naeini et al. 2015)."""
    bins = reliability_bins(probabilities, labels, n_bins, binning)
    filled = bins.count > 0
    gaps = np.abs(bins.accuracy[filled] - bins.confidence[filled])
    return float(np.sum(bins.count[filled] * gaps) / bins.count.sum())


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(true class) (scikit-learn's log_loss)."""
    probabilities = np.asarray(probabilities, dtype=float)
    return float(log_loss(labels, probabilities, labels=list(range(probabilities.shape[1]))))


def brier_score(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean over images of sum over classes of (p_k - 1[y = k])^2 (Brier 1950; scikit-learn, not
    halved for two classes, so binary and multiclass tasks are on one scale from 0 to 2)."""
    probabilities = np.asarray(probabilities, dtype=float)
    return float(brier_score_loss(labels, probabilities, labels=list(range(probabilities.shape[1])),
                                  scale_by_half=False))


def logits_of(probabilities: np.ndarray) -> np.ndarray:
    """Logits that give back ``probabilities`` under softmax (log p, defined up to a constant per row)."""
    return np.log(np.clip(np.asarray(probabilities, dtype=float), TINY, 1.0))


def scaled_probabilities(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T): T > 1 softens, T < 1 sharpens; the argmax never changes."""
    return softmax(logits_of(probabilities) / temperature, axis=1)


@dataclass(frozen=True)
class TemperatureFit:
    """The temperature to scale by and why: ``fitted`` (the NLL optimum), else T = 1 with the reason
    (``val_error_free``: NLL falls without end as T shrinks; ``at_search_bound``: the NLL is lowest at,
    or flat out to, the search's edge, whose T is ``bound``)."""
    temperature: float
    status: str
    bound: float | None = None

    @property
    def fitted(self) -> bool:
        return self.status == FITTED


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> TemperatureFit:
    """The temperature T that minimises the NLL of softmax(logits / T) on (validation) predictions,
    searched over log T (bounded scalar minimisation); T = 1 where val does not identify it."""
    logits, labels = logits_of(probabilities), np.asarray(labels, dtype=int)
    if len(labels) == 0:
        raise ValueError("cannot fit a temperature on zero predictions")
    if np.all(logits.argmax(axis=1) == labels):
        return TemperatureFit(1.0, VAL_ERROR_FREE)
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        return float(-np.mean(log_softmax(logits / np.exp(log_t), axis=1)[rows, labels]))

    result = minimize_scalar(nll, bounds=(-LOG_T_BOUND, LOG_T_BOUND), method="bounded",
                             options={"xatol": 1e-6})
    for edge in (-LOG_T_BOUND, LOG_T_BOUND):
        if abs(result.x - edge) <= BOUND_MARGIN or nll(edge) <= result.fun + FLAT_NLL:
            return TemperatureFit(1.0, AT_SEARCH_BOUND, bound=float(np.exp(edge)))
    return TemperatureFit(float(np.exp(result.x)), FITTED)


def calibration_metrics(probabilities: np.ndarray, labels: np.ndarray, n_bins: int) -> dict[str, float]:
    """ECE (equal-width and equal-mass bins), NLL, Brier score and accuracy of one set of predictions."""
    probabilities, labels = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=int)
    return {
        "ece_width": expected_calibration_error(probabilities, labels, n_bins, "width"),
        "ece_mass": expected_calibration_error(probabilities, labels, n_bins, "mass"),
        "nll": negative_log_likelihood(probabilities, labels),
        "brier": brier_score(probabilities, labels),
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels)),
    }


def weighted_ece(weights: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width ECE per row of ``weights`` (resamples x images), an image of weight w counting w times:
    ``expected_calibration_error(..., n_bins, "width")`` of the repeated rows. The bins are fixed by the
    confidences, so ECE = sum over bins of |weighted sum of (correct - confidence)| / total weight."""
    probabilities, labels = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=int)
    weights = np.asarray(weights, dtype=float)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    confidence = probabilities.max(axis=1)
    gap = (probabilities.argmax(axis=1) == labels) - confidence
    per_bin = np.zeros((len(labels), n_bins))
    per_bin[np.arange(len(labels)), _bin_index(confidence, n_bins, "width")] = gap
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(weights @ per_bin).sum(axis=1) / weights.sum(axis=1)
