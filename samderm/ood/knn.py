"""Deep nearest neighbours (Sun et al., ICML 2022) on the cached encoder features, with pytorch-ood's KNN."""

from __future__ import annotations

import numpy as np
import torch

from samderm.ood.errors import HyperParameterOutOfRange
from samderm.ood.logits import as_tensor


class KNN:
    """Score = || z - z_(k) ||_2, z = x / ||x||_2: the distance of the normalised features to their
    k-th nearest normalised in-distribution training feature. Uses no logits, like Mahalanobis."""

    def __init__(self, k: int = 50):
        self.k = k

    def fit(self, features: np.ndarray, labels: np.ndarray, logits_fn=None) -> "KNN":
        x = as_tensor(features)
        if not 1 <= self.k <= len(x):
            raise HyperParameterOutOfRange(f"KNN k={self.k} needs 1 <= k <= the {len(x)} training images")
        from pytorch_ood.detector import KNN as ReferenceKNN  # on use: pytorch-ood loads torchvision (seconds)

        self.knn_ = ReferenceKNN(None, k=self.k)
        # one process per job, as the rule's threads: 1 promises (pytorch-ood asks for every core)
        self.knn_.knn.set_params(n_jobs=1)
        self.knn_.fit_features(x, torch.zeros(len(x), dtype=torch.long))
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.knn_.predict_features(as_tensor(features)).numpy().astype(np.float64)
