"""What every loss shares: soft targets, class weights, the (weighted) mean over the batch."""

from __future__ import annotations

import logging
from typing import Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)


def as_soft_targets(target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class indices (N,) -> one-hot (N, C); soft targets (N, C) pass through as float."""
    if target.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
        return nn.functional.one_hot(target.long(), n_classes).to(torch.float32)
    if target.dim() != 2 or target.shape[1] != n_classes:
        raise ValueError(f"soft targets must have shape (N, {n_classes}), got {tuple(target.shape)}")
    return target.to(torch.float32)


def safe_counts(class_counts: Sequence[int]) -> torch.Tensor:
    """Train counts per class as floats; a class without samples counts as 1 (with a warning)
    so that weights and margins stay finite: it never appears as a target anyway."""
    counts = torch.as_tensor(list(class_counts), dtype=torch.float64)
    if (counts <= 0).any():
        log.warning("classes without training samples (counted as 1): indices %s", (counts <= 0).nonzero().flatten().tolist())
    return counts.clamp(min=1.0)


def normalised(weights: torch.Tensor) -> torch.Tensor:
    """Scale class weights to sum to the number of classes (Cui et al. 2019), float32."""
    return (weights * len(weights) / weights.sum()).to(torch.float32)


def inverse_frequency_weights(class_counts: Sequence[int]) -> torch.Tensor:
    return normalised(1.0 / safe_counts(class_counts))


def effective_number_weights(class_counts: Sequence[int], beta: float) -> torch.Tensor:
    """Cui et al. 2019: w_j ∝ (1 - beta) / (1 - beta^n_j)."""
    counts = safe_counts(class_counts)
    return normalised((1.0 - beta) / (1.0 - torch.pow(beta, counts)))


def class_weighted_mean(per_sample: torch.Tensor, soft: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """sum_i w_i l_i / sum_i w_i with the sample weight w_i = sum_j w_j y_ij: the convention of
    F.cross_entropy(weight=...) and of the LDAM-DRW code for one-hot y, and the same number for
    soft targets that are one-hot. Without weights, the plain mean over samples."""
    if weights is None:
        return per_sample.mean()
    sample_weights = soft @ weights.to(soft.device)
    return (sample_weights * per_sample).sum() / sample_weights.sum()


def weighted_soft_ce(logits: torch.Tensor, soft: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy -sum_j y_ij log softmax(z_i)_j per sample, class-weighted mean over samples."""
    per_sample = -(soft * torch.log_softmax(logits, dim=1)).sum(dim=1)
    return class_weighted_mean(per_sample, soft, weights)


class ClassLoss(nn.Module):
    """A loss over the logits of one task. ``forward(logits, target)`` takes class indices
    (N,) or soft targets (N, C). ``start_epoch`` lets schedules (DRW) switch per epoch."""

    # True where forward is faster on class indices than on one-hot rows (training then passes indices)
    prefers_class_indices = False

    def __init__(self, n_classes: int):
        super().__init__()
        self.n_classes = n_classes

    def start_epoch(self, epoch: int) -> None:
        """Epochs count from 0; most losses have no schedule."""
