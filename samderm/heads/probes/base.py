"""What every probe shares: the scikit-learn style interface and the class columns.

A probe is fitted on the integer labels 0..n_classes-1 of one task; a class absent from the
rows it learns from keeps its column in ``predict_proba``, with probability 0."""

from __future__ import annotations

import numpy as np


class Probe:
    """Hyper-parameters in the constructor, learned state ending in ``_``.

    ``fit(x_train, y_train, x_val=None, y_val=None) -> self``; ``predict_proba(x)`` is
    (N, n_classes) float64; ``predict(x)`` its argmax (the first class on ties)."""

    def __init__(self, n_classes: int):
        if int(n_classes) < 1:
            raise ValueError(f"n_classes must be at least 1, got {n_classes}")
        self.n_classes = int(n_classes)

    def fit(self, x_train, y_train, x_val=None, y_val=None) -> "Probe":
        raise NotImplementedError

    def predict_proba(self, x) -> np.ndarray:
        raise NotImplementedError

    def predict(self, x) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    def check_labels(self, y, name: str = "y_train") -> np.ndarray:
        """Integer labels in 0..n_classes-1 (a task's unlabelled rows are dropped before)."""
        y = np.asarray(y)
        if y.ndim != 1 or len(y) == 0:
            raise ValueError(f"{name} must be a non-empty 1-d array of class indices")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"{name} must hold class indices 0..{self.n_classes - 1}")
        return y.astype(np.int64)

    def all_columns(self, probabilities: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Spread the columns of the learned ``classes`` over all n_classes (the others stay 0)."""
        out = np.zeros((len(probabilities), self.n_classes), dtype=np.float64)
        out[:, classes] = probabilities
        return out


def features(x) -> np.ndarray:
    """A 2-d float array (a memory-mapped feature store is read here)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-d (N x D), got shape {x.shape}")
    return x
