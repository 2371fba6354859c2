"""Which training rows each step sees: instance order, class-balanced draws, and the
class-balanced partner batches of Balanced MixUp."""

from __future__ import annotations

from typing import Iterator

import torch


def strata(labels: torch.Tensor) -> torch.Tensor:
    """One stratum per distinct label combination of a row (all tasks of a group), so a
    class-balanced draw is balanced over every task's classes at once."""
    return torch.unique(labels, dim=0, return_inverse=True)[1]


def balanced_weights(stratum: torch.Tensor) -> torch.Tensor:
    """Per-row probability 1 / (n_strata * size of its stratum): each stratum equally likely."""
    counts = torch.bincount(stratum).to(torch.float64)
    return (1.0 / (counts[stratum] * len(counts))).to(torch.float32)


def balanced_draw(weights: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.multinomial(weights, n, replacement=True, generator=generator)


def epoch_order(n_rows: int, sampler: str, weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Row indices of one epoch (n_rows draws); ``instance``: a permutation, ``class_balanced``:
    draws with replacement, each stratum equally likely."""
    if sampler == "instance":
        return torch.randperm(n_rows, generator=generator)
    if sampler == "class_balanced":
        return balanced_draw(weights, n_rows, generator)
    raise ValueError(f"unknown sampler '{sampler}' (expected instance or class_balanced)")


def epoch_batches(n_rows: int, batch_size: int, sampler: str, weights: torch.Tensor,
                  generator: torch.Generator) -> Iterator[torch.Tensor]:
    """The epoch's row indices (epoch_order) in batches of ``batch_size``."""
    yield from epoch_order(n_rows, sampler, weights, generator).split(batch_size)
