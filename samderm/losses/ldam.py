"""LDAM loss (Cao et al. 2019): label-distribution-aware margins n_j^(-1/4), scaled so the
rarest class gets ``max_m``, on logits of a cosine-normalised layer scaled by ``s``; with
deferred re-weighting (LDAM-DRW), effective-number class weights from ``drw_epoch`` on."""

from __future__ import annotations

from typing import Sequence

import torch

from samderm.losses.base import ClassLoss, as_soft_targets, effective_number_weights, safe_counts, weighted_soft_ce
from samderm.losses.parameters import DRW_BETA


def ldam_margins(class_counts: Sequence[int], max_m: float) -> torch.Tensor:
    m = safe_counts(class_counts).pow(-0.25)
    return (m * (max_m / m.max())).to(torch.float32)


class LDAMLoss(ClassLoss):
    """``logits`` are s * cos(theta) (the head's cosine layer applies ``s``), so the margin is
    subtracted as s * m_j: the reference's cross_entropy(s * (cos - m_y), weight=w), a weighted
    mean over samples. Soft targets subtract y_j-weighted margins. ``drw_epoch`` None: plain LDAM."""

    def __init__(self, class_counts: Sequence[int], max_m: float = 0.5, s: float = 30.0,
                 drw_epoch: int | None = None, drw_beta: float = DRW_BETA):
        super().__init__(len(class_counts))
        self.s = float(s)
        self.drw_epoch = drw_epoch
        self.register_buffer("margins", ldam_margins(class_counts, max_m))
        self.register_buffer("drw_weights", effective_number_weights(class_counts, drw_beta))
        self.reweight = False

    def start_epoch(self, epoch: int) -> None:
        self.reweight = self.drw_epoch is not None and epoch >= self.drw_epoch

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        soft = as_soft_targets(target, self.n_classes)
        shifted = logits - self.s * soft * self.margins
        return weighted_soft_ce(shifted, soft, self.drw_weights if self.reweight else None)
