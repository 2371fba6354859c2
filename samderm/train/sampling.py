"""Which training rows each step sees: instance order, class-balanced draws, and the
class-balanced partner batches of Balanced MixUp."""

from __future__ import annotations

import torch


def strata(labels: torch.Tensor) -> torch.Tensor:
    """One stratum per distinct label combination of a row (all tasks of a group), so a
    class-balanced draw is balanced over every task's classes at once."""
    # each row as one mixed-radix integer (lexicographic order kept): a 1-D unique instead of
    # torch.unique(dim=0), which compares rows one pair at a time
    codes = torch.zeros(len(labels), dtype=torch.int64)
    for column in labels.reshape(len(labels), -1).T.long():
        low = int(column.min()) if len(column) else 0
        codes = codes * (int(column.max()) - low + 1 if len(column) else 1) + (column - low)
    return torch.unique(codes, return_inverse=True)[1]


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

