"""Mahalanobis distance to the nearest class mean (Lee et al., NeurIPS 2018), on the features."""

from __future__ import annotations

import numpy as np
from sklearn.covariance import EmpiricalCovariance, LedoitWolf

COVARIANCE_ESTIMATORS = {"empirical": EmpiricalCovariance, "ledoit_wolf": LedoitWolf}


class Mahalanobis:
    """Class means and one shared covariance of the in-distribution training features.
    Score = min_c (x - mu_c)^T Sigma^-1 (x - mu_c), the squared distance to the nearest class
    mean. Uses no logits: the head only decides which classes and rows it is fit on."""

    def __init__(self, covariance: str = "ledoit_wolf"):
        if covariance not in COVARIANCE_ESTIMATORS:
            raise ValueError(f"unknown covariance estimator {covariance!r}; choose one of {sorted(COVARIANCE_ESTIMATORS)}")
        self.covariance = covariance

    def fit(self, features: np.ndarray, labels: np.ndarray, logits_fn=None) -> "Mahalanobis":
        x = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        if x.ndim != 2 or len(x) != len(labels) or len(x) < 2:
            raise ValueError(f"need N x D features with N >= 2 labels, got features {x.shape} and {labels.shape} labels")
        self.classes_, index = np.unique(labels, return_inverse=True)
        self.means_ = np.stack([x[index == k].mean(axis=0) for k in range(len(self.classes_))])
        # shared covariance of the class-centred features (the means are already removed)
        estimator = COVARIANCE_ESTIMATORS[self.covariance](assume_centered=True)
        self.covariance_ = estimator.fit(x - self.means_[index])
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        distances = np.stack([self.covariance_.mahalanobis(x - mean) for mean in self.means_], axis=1)
        return distances.min(axis=1)
