"""Energy score (Liu et al., NeurIPS 2020)."""

from __future__ import annotations

import numpy as np
import torch

from samderm.ood.logits import LogitsFn, logits_of


class Energy:
    """Score = E(x; T) = -T * logsumexp(f(x) / T): in-distribution inputs have low energy."""

    def __init__(self, temperature: float = 1.0, batch_size: int = 4096):
        self.temperature = temperature
        self.batch_size = batch_size

    def fit(self, features: np.ndarray, labels: np.ndarray, logits_fn: LogitsFn) -> "Energy":
        self.logits_fn_ = logits_fn
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        logits = logits_of(self.logits_fn_, features, self.batch_size)
        energy = -self.temperature * torch.logsumexp(logits / self.temperature, dim=1)
        return energy.numpy().astype(np.float64)
