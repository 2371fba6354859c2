"""Building blocks of the heads: an MLP body and the last (linear or cosine) layer."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def mlp(input_dim: int, hidden: Sequence[int], dropout: float) -> nn.Sequential:
    """Linear -> ReLU -> Dropout per hidden size; no batch norm, so each sample's gradient
    depends on that sample alone (multihead masking relies on it)."""
    layers: list[nn.Module] = []
    size = input_dim
    for width in hidden:
        layers += [nn.Linear(size, int(width)), nn.ReLU(), nn.Dropout(dropout)]
        size = int(width)
    return nn.Sequential(*layers)


class CosineLinear(nn.Module):
    """s * cos(x, w_j): the normalised last layer the LDAM paper pairs with s=30."""

    def __init__(self, in_features: int, out_features: int, scale: float):
        super().__init__()
        self.scale = float(scale)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * nn.functional.linear(nn.functional.normalize(x, dim=1), nn.functional.normalize(self.weight, dim=1))


def classifier(in_features: int, n_classes: int, cosine_scale: float | None) -> nn.Module:
    return nn.Linear(in_features, n_classes) if cosine_scale is None else CosineLinear(in_features, n_classes, cosine_scale)
