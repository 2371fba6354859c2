"""Balanced MixUp (Galdran et al. 2021): mix an instance-sampled batch with a class-balanced
batch, lambda ~ Beta(alpha, 1) weighting the balanced batch; targets become soft."""

from __future__ import annotations

import torch


def mixup_lambda(alpha: float, generator: torch.Generator) -> float:
    """Beta(alpha, 1) by inversion (its CDF is x^alpha), so a torch generator drives it."""
    u = torch.rand((), generator=generator).item()
    return u ** (1.0 / alpha)


def mix_features(x_instance: torch.Tensor, x_balanced: torch.Tensor, lam: float) -> torch.Tensor:
    return (1.0 - lam) * x_instance + lam * x_balanced


def mix_targets(y_instance: torch.Tensor, y_balanced: torch.Tensor, n_classes: int, lam: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft targets (N, C) of one task and the mask of pairs where both samples have a label
    (-1 = no label for this task): the others contribute nothing to this task's loss."""
    valid = (y_instance >= 0) & (y_balanced >= 0)
    one_hot = lambda y: torch.nn.functional.one_hot(y.clamp(min=0), n_classes).to(torch.float32)  # noqa: E731
    soft = (1.0 - lam) * one_hot(y_instance) + lam * one_hot(y_balanced)
    return soft[valid], valid
