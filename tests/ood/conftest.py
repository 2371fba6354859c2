"""Synthetic features and small real torch classifiers for the OOD tests.

Four classes in 8 dimensions, with means at +-6 on the first two axes and unit noise; the
"shifted" OOD set sits between the classes (near the origin), where a classifier trained on
the four classes is unsure and far from every class mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

DIM, N_CLASSES = 8, 4
MEANS = np.zeros((N_CLASSES, DIM))
MEANS[[0, 1, 2, 3], [0, 0, 1, 1]] = [6.0, -6.0, 6.0, -6.0]


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """In-distribution features and class labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n)
    return (MEANS[labels] + rng.normal(size=(n, DIM))).astype(np.float32), labels


def shifted(n: int, seed: int) -> np.ndarray:
    """OOD features: the in-distribution noise, moved to the middle between the classes."""
    return (0.5 * np.random.default_rng(seed).normal(size=(n, DIM))).astype(np.float32)


def train_classifier(features: np.ndarray, labels: np.ndarray, seed: int = 0, steps: int = 150) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(DIM, 16), nn.ReLU(), nn.Linear(16, N_CLASSES))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    x, y = torch.as_tensor(features), torch.as_tensor(labels)
    for _ in range(steps):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="module")
def synthetic():
    """(train features, train labels, classifier, in-distribution test, OOD test, same-distribution test)."""
    train_x, train_y = blobs(400, seed=1)
    model = train_classifier(train_x, train_y)
    return {
        "train": (train_x, train_y),
        "model": model,
        "id": blobs(300, seed=2)[0],
        "shifted": shifted(300, seed=3),
        "identical": blobs(300, seed=4)[0],
    }
