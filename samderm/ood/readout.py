"""One head of a HeadModel as logits = h(x) W^T + b: the penultimate features h and the last
linear map, which ViM needs (a cosine last layer s * cos(h, w) is the linear map s * w/|w| on h/|h|)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from samderm.heads.layers import CosineLinear


class HeadReadout:
    """Callable like the head (raw features -> logits), plus `penultimate` and `last_layer`."""

    def __init__(self, model: nn.Module, head: str):
        self.model, self.head = model, head
        if model.arch == "parallel":
            self.body, self.last = model.branches[head][0], model.branches[head][1]
        else:
            self.body, self.last = model.trunk, model.heads[head]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, tasks=[self.head])[self.head]

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body((x - self.model.feature_mean) / self.model.feature_std)
        return nn.functional.normalize(h, dim=1) if isinstance(self.last, CosineLinear) else h

    def last_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.last, CosineLinear):
            weight = self.last.scale * nn.functional.normalize(self.last.weight, dim=1)
            return weight.detach(), torch.zeros(weight.shape[0])
        return _weight_and_bias(self.last)


def linear_readout(logits_fn: Callable) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor]:
    """(penultimate, W, b) of a HeadReadout, an nn.Linear or an nn.Sequential ending in one."""
    if isinstance(logits_fn, HeadReadout):
        return (logits_fn.penultimate, *logits_fn.last_layer())
    if isinstance(logits_fn, nn.Linear):
        return (nn.Identity(), *_weight_and_bias(logits_fn))
    if isinstance(logits_fn, nn.Sequential) and isinstance(logits_fn[-1], nn.Linear):
        return (logits_fn[:-1], *_weight_and_bias(logits_fn[-1]))
    raise ValueError(f"this detector needs a head whose last layer is linear, got {type(logits_fn).__name__}")


def _weight_and_bias(layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_features)
    return layer.weight.detach(), bias.detach()
