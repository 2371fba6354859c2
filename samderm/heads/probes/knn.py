"""The k-nearest-neighbour probe: cosine distance on features standardised with the train
statistics, k neighbours (default 11) voting uniformly or weighted by 1 / distance; scikit-learn's
``StandardScaler`` and ``KNeighborsClassifier(metric="cosine")`` in a ``Pipeline``."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from samderm.heads.probes.base import Probe, features

VOTE_WEIGHTS = ("uniform", "distance")


class KNNProbe(Probe):
    def __init__(self, n_classes: int, k: int = 11, weights: str = "uniform"):
        super().__init__(n_classes)
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if weights not in VOTE_WEIGHTS:
            raise ValueError(f"weights must be 'uniform' or 'distance', got {weights!r}")
        self.k = k
        self.weights = weights

    def fit(self, x_train, y_train, x_val=None, y_val=None) -> "KNNProbe":
        x, y = features(x_train), self.check_labels(y_train)
        if self.k > len(x):
            raise ValueError(f"k={self.k} is more than the {len(x)} training images")
        self.model_ = make_pipeline(StandardScaler(),
                                    KNeighborsClassifier(n_neighbors=self.k, metric="cosine", weights=self.weights)).fit(x, y)
        return self

    def predict_proba(self, x) -> np.ndarray:
        return self.all_columns(self.model_.predict_proba(features(x)), self.model_.classes_)
