"""Shared plumbing of the logit-based detectors: features in, logits or softmax out, in batches."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

LogitsFn = Callable[[torch.Tensor], torch.Tensor]


class LogitDetector:
    """A detector that scores the head's logits: fitting only remembers the head."""

    def fit(self, features: np.ndarray, labels: np.ndarray, logits_fn: LogitsFn):
        self.logits_fn_ = logits_fn
        return self


def as_tensor(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Features as a float32 tensor of shape N x D, cut from any autograd graph."""
    x = features if torch.is_tensor(features) else torch.as_tensor(np.asarray(features, dtype=np.float32))
    if x.ndim != 2:
        raise ValueError(f"features must be N x D, got shape {tuple(x.shape)}")
    return x.detach().float()


def batches(x: torch.Tensor, batch_size: int):
    for start in range(0, x.shape[0], batch_size):
        yield x[start : start + batch_size]


@torch.no_grad()
def logits_of(logits_fn: LogitsFn, features: np.ndarray | torch.Tensor, batch_size: int) -> torch.Tensor:
    x = as_tensor(features)
    if x.shape[0] == 0:
        raise ValueError("no features to score")
    return torch.cat([logits_fn(chunk) for chunk in batches(x, batch_size)])


def max_softmax(logits: torch.Tensor, temperature: float) -> np.ndarray:
    return (logits / temperature).softmax(dim=1).max(dim=1).values.numpy().astype(np.float64)
