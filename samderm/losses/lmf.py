"""LMF loss (Sadi et al. 2023): alpha * LDAM + beta * focal on the same raw head output,
named as in the authors' code (alpha weights LDAM, beta weights focal)."""

from __future__ import annotations

import torch

from samderm.losses.base import ClassLoss
from samderm.losses.focal import FocalLoss
from samderm.losses.ldam import LDAMLoss


class LMFLoss(ClassLoss):
    """Our cosine head outputs s * cos; the reference feeds the raw output (cos) to both terms and
    LDAM scales by s inside. LDAMLoss takes s * cos as it is; focal gets cos = logits / s."""

    def __init__(self, ldam: LDAMLoss, focal: FocalLoss, alpha: float = 1.0, beta: float = 1.0):
        super().__init__(ldam.n_classes)
        self.ldam, self.focal = ldam, focal
        self.alpha, self.beta = float(alpha), float(beta)

    def start_epoch(self, epoch: int) -> None:
        self.ldam.start_epoch(epoch)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.alpha * self.ldam(logits, target) + self.beta * self.focal(logits / self.ldam.s, target)
