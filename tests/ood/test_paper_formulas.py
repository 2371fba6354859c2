"""Every detector at its DEFAULT settings against its paper's equation, written out in numpy in
tests/ood/formulas.py: a wrong formula (energy as the max logit, Mahalanobis with the identity
covariance, relative Mahalanobis with MD_c + MD_0, KNN without normalising, GEN with its top term
only, ViM with alpha = 1) changes these values, where separating a shifted set would not notice."""

import numpy as np
import pytest
import torch
from torch import nn

from samderm.ood import DETECTORS, ODIN
from tests.ood import formulas

DIM, WIDTH, N_CLASSES = 128, 96, 4  # ViM's default principal_dim (64) needs a wider penultimate layer


@pytest.fixture(scope="module")
def data():
    """Four classes with unequal per-dimension spreads (so the covariance is not the identity), an
    in-distribution and a shifted test half, and a head whose logits are a few units apart."""
    rng = np.random.default_rng(0)
    means = rng.normal(0, 2, (N_CLASSES, DIM))
    spreads = np.exp(rng.normal(0, 0.7, DIM))

    def draw(n, shift=0.0):
        labels = rng.integers(0, N_CLASSES, n)
        return (means[labels] + spreads * rng.normal(size=(n, DIM)) + shift).astype(np.float32), labels

    train_x, train_y = draw(400)
    x = np.concatenate([draw(60)[0], draw(60, shift=1.0)[0]])
    torch.manual_seed(0)
    head = nn.Sequential(nn.Linear(DIM, WIDTH), nn.ReLU(), nn.Linear(WIDTH, N_CLASSES)).eval()
    with torch.no_grad():
        head[-1].weight.mul_(5.0)  # logits of a few units: softmax, energy and max logit all differ
    return train_x, train_y, x, head


def numpy_of(module, x):
    with torch.no_grad():
        return module(torch.as_tensor(x)).double().numpy()


def default_scores(name, data):
    train_x, train_y, x, head = data
    return DETECTORS[name]().fit(train_x, train_y, head).predict(x)


# the papers' defaults: energy T = 1 (Liu et al. 2020), GEN gamma = 0.1 and all classes (M = 100 >= 4)
LOGIT_FORMULAS = {
    "msp": formulas.msp,
    "energy": lambda logits: formulas.energy(logits, temperature=1.0),
    "maxlogit": formulas.max_logit,
    "gen": lambda logits: formulas.gen(logits, gamma=0.1, top_m=100),
}


@pytest.mark.parametrize("name", sorted(LOGIT_FORMULAS))
def test_logit_detector_default_equals_the_paper(name, data):
    logits = numpy_of(data[3], data[2])
    np.testing.assert_allclose(default_scores(name, data), LOGIT_FORMULAS[name](logits), rtol=1e-5, atol=1e-6)


def test_odin_default_equals_the_paper_on_a_linear_head(data):
    train_x, train_y, x, _ = data
    torch.manual_seed(1)
    head = nn.Linear(DIM, N_CLASSES).eval()
    with torch.no_grad():
        head.weight.mul_(100.0)  # logits of ~100: the T = 1000 perturbation moves the softmax well above float32 noise
    weight, bias = head.weight.detach().double().numpy(), head.bias.detach().double().numpy()
    ours = ODIN().fit(train_x, train_y, head).predict(x)
    # Liang et al. 2018: T = 1000; epsilon 0.0014 is the paper's CIFAR-10 DenseNet choice
    expected = formulas.odin_linear(x.astype(np.float64), weight, bias, temperature=1000.0, epsilon=0.0014)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-7)
    unperturbed = formulas.odin_linear(x.astype(np.float64), weight, bias, temperature=1000.0, epsilon=0.0)
    assert np.abs(expected - unperturbed).min() > 1e-5  # the perturbation is visible at this tolerance


def test_knn_default_equals_the_paper(data):
    train_x, _, x, _ = data
    # Sun et al. 2022: k = 50 (their CIFAR-10 setting)
    expected = formulas.knn(train_x.astype(np.float64), x.astype(np.float64), k=50)
    np.testing.assert_allclose(default_scores("knn", data), expected, rtol=1e-5, atol=1e-6)


def test_vim_default_equals_the_paper(data):
    train_x, _, x, head = data
    weight, bias = head[-1].weight.detach().double().numpy(), head[-1].bias.detach().double().numpy()
    # Wang et al. 2022 on the penultimate features; principal_dim 64 (ours: the paper sets it per network)
    expected = formulas.vim(numpy_of(head[:-1], train_x), numpy_of(head[:-1], x), weight, bias, principal_dim=64)
    np.testing.assert_allclose(default_scores("vim", data), expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name,formula", [("mahalanobis", formulas.mahalanobis),
                                          ("relative_mahalanobis", formulas.relative_mahalanobis)])
def test_mahalanobis_default_equals_the_paper(name, formula, data):
    train_x, train_y, x, _ = data
    expected = formula(train_x.astype(np.float64), train_y, x.astype(np.float64))
    np.testing.assert_allclose(default_scores(name, data), expected, rtol=1e-6, atol=1e-6)
