"""Cross-entropy with class weights: none, inverse frequency, or effective number (Cui et al. 2019)."""

from __future__ import annotations

from typing import Sequence

import torch

from samderm.losses.base import ClassLoss, as_soft_targets, effective_number_weights, inverse_frequency_weights, weighted_soft_ce

WEIGHTINGS = ("none", "inverse_frequency", "effective_number")


def class_weights(weighting: str, class_counts: Sequence[int], beta: float = 0.999) -> torch.Tensor | None:
    if weighting == "none":
        return None
    if weighting == "inverse_frequency":
        return inverse_frequency_weights(class_counts)
    if weighting == "effective_number":
        return effective_number_weights(class_counts, beta)
    raise ValueError(f"unknown class weighting '{weighting}' (expected one of {', '.join(WEIGHTINGS)})")


class WeightedCrossEntropy(ClassLoss):
    def __init__(self, class_counts: Sequence[int], weighting: str = "inverse_frequency", beta: float = 0.999):
        super().__init__(len(class_counts))
        weights = class_weights(weighting, class_counts, beta)
        self.register_buffer("weights", weights if weights is not None else torch.ones(self.n_classes))

    prefers_class_indices = True

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == 1:
            # class indices: torch's weighted cross-entropy is this same weighted mean, in two kernels
            return torch.nn.functional.cross_entropy(logits, target.long(), weight=self.weights)
        return weighted_soft_ce(logits, as_soft_targets(target, self.n_classes), self.weights)
