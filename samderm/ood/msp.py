"""Maximum softmax probability, the baseline (Hendrycks & Gimpel, ICLR 2017)."""

from __future__ import annotations

import numpy as np

from samderm.ood.logits import LogitDetector, logits_of, max_softmax


class MSP(LogitDetector):
    """Score = -max_c softmax(f(x))_c: a confident head means in-distribution."""

    def __init__(self, batch_size: int = 4096):
        self.batch_size = batch_size

    def predict(self, features: np.ndarray) -> np.ndarray:
        return -max_softmax(logits_of(self.logits_fn_, features, self.batch_size), 1.0)
