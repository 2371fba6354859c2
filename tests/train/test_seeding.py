"""seed_everything seeds python, numpy, torch and the data-order generator with the run seed itself."""

from __future__ import annotations

import random

import numpy as np
import torch

from samderm.seeding import seed_everything


def draws_after_seeding(seed: int) -> dict[str, list]:
    """One draw from every generator a training step uses, right after seed_everything(seed)."""
    order = seed_everything(seed)
    return {
        "python": [random.random() for _ in range(3)],
        "numpy": np.random.rand(3).tolist(),
        "torch": torch.rand(3).tolist(),
        "dropout_mask": (torch.nn.functional.dropout(torch.ones(32), p=0.5) > 0).tolist(),
        "data_order": torch.randperm(10, generator=order).tolist(),
    }


def test_same_seed_same_draws_and_another_seed_other_draws_from_every_generator():
    first, again, other = draws_after_seeding(7), draws_after_seeding(7), draws_after_seeding(8)
    assert first == again
    for name in first:  # a generator seeded with a constant would draw the same for both seeds
        assert first[name] != other[name], name


def test_every_generator_is_seeded_with_the_run_seed_itself():
    draws, python = draws_after_seeding(12345), random.Random(12345)
    assert draws["python"] == [python.random() for _ in range(3)]
    assert draws["numpy"] == np.random.RandomState(12345).rand(3).tolist()
    assert draws["torch"] == torch.rand(3, generator=torch.Generator().manual_seed(12345)).tolist()
    assert draws["data_order"] == torch.randperm(10, generator=torch.Generator().manual_seed(12345)).tolist()
