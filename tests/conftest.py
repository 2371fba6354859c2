"""Shared pytest fixtures. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    # the test machines have 2 cores shared by everything; keep torch from oversubscribing
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield
