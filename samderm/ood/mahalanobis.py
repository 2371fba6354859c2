"""Mahalanobis distance to the nearest class mean (Lee et al., NeurIPS 2018), on the features."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.covariance import EmpiricalCovariance, LedoitWolf

log = logging.getLogger("samderm.ood")

# empirical: the papers' estimator (Lee et al.'s and OpenOOD's sklearn EmpiricalCovariance, precision by
# pseudo-inverse); ledoit_wolf: shrinkage towards a scaled identity, an option of ours
COVARIANCE_ESTIMATORS = {"empirical": EmpiricalCovariance, "ledoit_wolf": LedoitWolf}
DEFAULT_COVARIANCE = "empirical"


def check_covariance(covariance: str) -> str:
    if covariance not in COVARIANCE_ESTIMATORS:
        raise ValueError(f"unknown covariance estimator {covariance!r}; choose one of {sorted(COVARIANCE_ESTIMATORS)}")
    return covariance


def fit_covariance(covariance: str, x: np.ndarray, assume_centered: bool, what: str):
    """The fitted sklearn estimator; a singular empirical estimate is used through its pseudo-inverse
    (sklearn's precision_ is pinvh of the covariance), which the log says with its rank."""
    estimator = COVARIANCE_ESTIMATORS[covariance](assume_centered=assume_centered).fit(x)
    rank = int(np.linalg.matrix_rank(estimator.covariance_, hermitian=True))
    if rank < x.shape[1]:
        log.warning("%s: the %s covariance of %d images has rank %d < dimension %d; using its pseudo-inverse",
                    what, covariance, len(x), rank, x.shape[1])
    return estimator


class Mahalanobis:
    """Class means and one shared covariance of the in-distribution training features.
    Score = min_c (x - mu_c)^T Sigma^-1 (x - mu_c), the squared distance to the nearest class
    mean, Sigma the maximum-likelihood covariance of the class-centred features (1/N, as Lee et al.'s
    code) and Sigma^-1 its pseudo-inverse; ``covariance="ledoit_wolf"`` shrinks Sigma instead (ours, not
    the paper's). Uses no logits: the head only decides which classes and rows it is fit on."""

    def __init__(self, covariance: str = DEFAULT_COVARIANCE):
        self.covariance = check_covariance(covariance)

    def fit(self, features: np.ndarray, labels: np.ndarray, logits_fn=None) -> "Mahalanobis":
        x = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        if x.ndim != 2 or len(x) != len(labels) or len(x) < 2:
            raise ValueError(f"need N x D features with N >= 2 labels, got features {x.shape} and {labels.shape} labels")
        self.classes_, index = np.unique(labels, return_inverse=True)
        self.means_ = np.stack([x[index == k].mean(axis=0) for k in range(len(self.classes_))])
        # shared covariance of the class-centred features (the means are already removed)
        self.covariance_ = fit_covariance(self.covariance, x - self.means_[index], True, "Mahalanobis class covariance")
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        distances = np.stack([self.covariance_.mahalanobis(x - mean) for mean in self.means_], axis=1)
        return distances.min(axis=1)
