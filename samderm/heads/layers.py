"""Building blocks of the heads: an MLP body and the last (linear or cosine) layer."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn


class Dropout(nn.Dropout):
    """nn.Dropout (keep each unit with probability 1 - p, scale kept units by 1 / (1 - p)) with
    its mask drawn as uniform >= p: on the CPU from a PCG64 generator (seeded from torch's
    global generator, so torch.manual_seed fixes the masks), 3-4x faster than the Bernoulli
    kernel of nn.functional.dropout, which cost a head's step as much as a matrix product."""

    def __init__(self, p: float = 0.5):
        super().__init__(p)
        self._cpu_generator: np.random.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return torch.zeros_like(x)
        if x.device.type == "cpu" and x.dtype == torch.float32:
            if self._cpu_generator is None:
                self._cpu_generator = np.random.Generator(np.random.PCG64(int(torch.randint(2**62, ()))))
            uniform = torch.from_numpy(self._cpu_generator.random(tuple(x.shape), dtype=np.float32))
        else:
            uniform = torch.rand(x.shape, dtype=x.dtype, device=x.device)
        # in place on the uniform draws: 1 / (1 - p) where kept, 0 where dropped
        return x * uniform.ge_(self.p).mul_(1.0 / (1.0 - self.p))


def mlp(input_dim: int, hidden: Sequence[int], dropout: float) -> nn.Sequential:
    """Linear -> ReLU -> Dropout per hidden size; no batch norm, so each sample's gradient
    depends on that sample alone (multihead masking relies on it)."""
    layers: list[nn.Module] = []
    size = input_dim
    for width in hidden:
        layers += [nn.Linear(size, int(width)), nn.ReLU(), Dropout(dropout)]
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
