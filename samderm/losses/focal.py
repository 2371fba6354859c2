"""Focal loss (Lin et al. 2017), multi-class softmax form with optional per-class alpha."""

from __future__ import annotations

from typing import Sequence

import torch

from samderm.losses.base import ClassLoss, as_soft_targets


def focal_loss(logits: torch.Tensor, soft: torch.Tensor, gamma: float, alpha: torch.Tensor | None = None) -> torch.Tensor:
    """mean_i -sum_j alpha_j y_ij (1 - p_ij)^gamma log p_ij: Lin et al.'s alpha_t factor on each
    sample's term and the plain mean over samples (not divided by sum alpha_t), as in the focal
    loss the LMF reference code uses; alpha here is a balancing factor, not a class weight."""
    log_p = torch.log_softmax(logits, dim=1)
    per_class = -soft * (1.0 - log_p.exp()).pow(gamma) * log_p
    if alpha is not None:
        per_class = per_class * alpha.to(logits.device)
    return per_class.sum(dim=1).mean()


class FocalLoss(ClassLoss):
    def __init__(self, n_classes: int, gamma: float = 2.0, alpha: Sequence[float] | None = None):
        super().__init__(n_classes)
        self.gamma = float(gamma)
        if alpha is not None and len(alpha) != n_classes:
            raise ValueError(f"focal alpha has {len(alpha)} values for {n_classes} classes: {list(alpha)}")
        self.register_buffer("alpha", torch.ones(n_classes) if alpha is None else torch.tensor(alpha, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, as_soft_targets(target, self.n_classes), self.gamma, self.alpha)
