"""Energy score (Liu et al., NeurIPS 2020)."""

from __future__ import annotations

import numpy as np
import torch

from samderm.ood.logits import LogitDetector, logits_of


class Energy(LogitDetector):
    """Score = E(x; T) = -T * logsumexp(f(x) / T): in-distribution inputs have low energy."""

    def __init__(self, temperature: float = 1.0, batch_size: int = 4096):
        self.temperature = temperature
        self.batch_size = batch_size

    def predict(self, features: np.ndarray) -> np.ndarray:
        logits = logits_of(self.logits_fn_, features, self.batch_size)
        energy = -self.temperature * torch.logsumexp(logits / self.temperature, dim=1)
        return energy.numpy().astype(np.float64)
