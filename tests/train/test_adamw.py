"""FlatAdamW: AdamW (Loshchilov & Hutter 2019, Algorithm 2) on flat parameter/gradient vectors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from samderm.train import adamw
from samderm.train.adamw import FlatAdamW

LR, WD, BETAS, EPS = 0.01, 0.1, (0.9, 0.999), 1e-8


def adamw_by_the_paper(theta: np.ndarray, grads: list[np.ndarray]) -> np.ndarray:
    """Algorithm 2 with eta_t = 1, alpha = lr and the decay lambda = lr * weight_decay (torch's
    scaling): m, v moments, bias-corrected m_hat, v_hat, decoupled decay of theta_{t-1}."""
    beta1, beta2 = BETAS
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        theta = theta - (LR * m_hat / (np.sqrt(v_hat) + EPS) + LR * WD * theta)
    return theta


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))


def train(net: torch.nn.Module, optimizer, steps: int = 6) -> list[np.ndarray]:
    """Steps on a fixed batch; returns the flat gradient of each step."""
    x = torch.linspace(-1, 1, 35).reshape(7, 5)
    grads = []
    for _ in range(steps):
        optimizer.zero_grad()
        net(x).square().sum().backward()
        grads.append(np.concatenate([p.grad.detach().numpy().ravel().astype(np.float64) for p in net.parameters()]))
        optimizer.step()
    return grads


@pytest.mark.parametrize("fused", [True, False])
def test_flat_adamw_follows_the_paper(monkeypatch, fused):
    if not fused:
        monkeypatch.setattr(adamw, "_FUSED", None)  # the vector-op path of torch builds without the kernel
    net = model()
    start = np.concatenate([p.detach().numpy().ravel().astype(np.float64) for p in net.parameters()])
    optimizer = FlatAdamW(net.parameters(), lr=LR, weight_decay=WD, betas=BETAS, eps=EPS)
    grads = train(net, optimizer)
    assert np.abs(grads[-1]).max() > 0.1  # the steps moved the loss: the comparison is not trivial
    expected = adamw_by_the_paper(start, grads)
    np.testing.assert_allclose(optimizer.flat.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert np.abs(expected - start).max() > 0.03


def test_flat_adamw_is_torch_adamw_and_releases_its_views():
    ours, reference = model(), model()
    optimizer = FlatAdamW(ours.parameters(), lr=LR, weight_decay=WD)
    train(ours, optimizer)
    train(reference, torch.optim.AdamW(reference.parameters(), lr=LR, weight_decay=WD))
    for a, b in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    state = copy.deepcopy(ours.state_dict())
    optimizer.release()
    assert all(p.grad is None for p in ours.parameters())
    ours[0].weight.data.zero_()  # its own storage now: the other parameters stay as they were
    assert torch.equal(ours[2].weight, state["2.weight"]) and not torch.equal(ours[0].weight, state["0.weight"])
