"""Relative Mahalanobis distance (Ren et al., 2021), on the features."""

from __future__ import annotations

import numpy as np

from samderm.ood.mahalanobis import Mahalanobis, fit_covariance


class RelativeMahalanobis(Mahalanobis):
    """Score = min_c [MD_c(x) - MD_0(x)]: the squared Mahalanobis distance to the nearest class
    (class means, shared covariance) minus that under one background Gaussian fit to all the
    training features (their mean and covariance, as OpenOOD's rmds); MD_0 does not depend on c, so
    this is min_c MD_c(x) - MD_0(x). Kept here rather than pytorch-ood's RMD so both Mahalanobis
    scores share the covariance estimator (``covariance``: empirical, the paper's, or ledoit_wolf)."""

    def fit(self, features: np.ndarray, labels: np.ndarray, logits_fn=None) -> "RelativeMahalanobis":
        super().fit(features, labels)
        self.background_ = fit_covariance(self.covariance, np.asarray(features, dtype=np.float64), False,
                                          "relative Mahalanobis background covariance")
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return super().predict(features) - self.background_.mahalanobis(np.asarray(features, dtype=np.float64))
