"""GEN, generalised entropy (Liu et al., CVPR 2023).

Our own rather than pytorch-ood's GEN: that one averages the M terms where the paper (and its
code) sums them, which ranks the same but gives scores 1/M of the paper's."""

from __future__ import annotations

import numpy as np
import torch

from samderm.ood.logits import LogitDetector, logits_of


class GEN(LogitDetector):
    """Score = G_gamma(p) = sum over the `top_m` largest softmax probabilities p_j of
    p_j^gamma (1 - p_j)^gamma (all classes when top_m >= their number); peaked, confident
    posteriors score low."""

    def __init__(self, gamma: float = 0.1, top_m: int = 100, batch_size: int = 4096):
        if gamma <= 0 or top_m < 1:
            raise ValueError(f"GEN needs gamma > 0 and top_m >= 1, got gamma={gamma}, top_m={top_m}")
        self.gamma = gamma
        self.top_m = top_m
        self.batch_size = batch_size

    def predict(self, features: np.ndarray) -> np.ndarray:
        logits = logits_of(self.logits_fn_, features, self.batch_size).double()
        p = torch.softmax(logits, dim=1).sort(dim=1, descending=True).values[:, : self.top_m]
        return (p.pow(self.gamma) * (1 - p).pow(self.gamma)).sum(dim=1).numpy()
