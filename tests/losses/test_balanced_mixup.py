"""Balanced MixUp: soft targets, the Beta(alpha, 1) weight, the class-balanced partner batch."""

from __future__ import annotations

import pytest
import torch

from samderm.losses.balanced_mixup import mix_features, mix_targets, mixup_lambda
from samderm.train.sampling import balanced_draw, balanced_weights, epoch_order, strata


def test_mixed_targets_sum_to_one_and_weight_the_balanced_batch_by_lambda():
    soft, valid = mix_targets(torch.tensor([0, 1, 2, 2]), torch.tensor([1, 1, 0, 2]), 3, lam=0.25)
    assert valid.all()
    assert soft.sum(dim=1).tolist() == pytest.approx([1.0] * 4)
    assert soft[0].tolist() == pytest.approx([0.75, 0.25, 0.0])
    assert soft[1].tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert mix_features(torch.zeros(2, 3), torch.ones(2, 3), 0.25).tolist() == [[0.25] * 3] * 2


def test_pairs_where_either_sample_lacks_the_label_are_masked():
    soft, valid = mix_targets(torch.tensor([0, -1, 1]), torch.tensor([1, 0, -1]), 2, lam=0.5)
    assert valid.tolist() == [True, False, False]
    assert soft.tolist() == [[0.5, 0.5]]


def test_lambda_follows_beta_alpha_one():
    g = torch.Generator().manual_seed(0)
    draws = torch.tensor([mixup_lambda(0.2, g) for _ in range(20000)])
    # Beta(a, 1): mean a / (a + 1), P(lambda <= 0.5) = 0.5^a
    assert draws.mean().item() == pytest.approx(0.2 / 1.2, abs=0.01)
    assert (draws <= 0.5).float().mean().item() == pytest.approx(0.5 ** 0.2, abs=0.01)


def test_balanced_batch_is_class_balanced_in_expectation():
    labels = torch.tensor([0] * 900 + [1] * 90 + [2] * 10).unsqueeze(1)
    weights = balanced_weights(strata(labels))
    drawn = labels[balanced_draw(weights, 30000, torch.Generator().manual_seed(1)), 0]
    freq = torch.bincount(drawn, minlength=3).float() / len(drawn)
    assert freq.tolist() == pytest.approx([1 / 3] * 3, abs=0.015)


def test_strata_combine_the_labels_of_every_task():
    # not-skin (no lesion label) and two lesion classes: three strata, each drawn equally often
    labels = torch.tensor([[0, -1]] * 50 + [[1, 0]] * 40 + [[1, 1]] * 10)
    assert strata(labels).unique().numel() == 3
    drawn = labels[balanced_draw(balanced_weights(strata(labels)), 30000, torch.Generator().manual_seed(2))]
    assert (drawn[:, 1] == 1).float().mean().item() == pytest.approx(1 / 3, abs=0.015)


def test_strata_are_the_distinct_label_rows_in_sorted_order():
    # torch.unique(dim=0) numbers the distinct rows lexicographically; the 1-D codes must agree,
    # also where a column has a single value or holds -1 (no label)
    generator = torch.Generator().manual_seed(0)
    labels = torch.stack([torch.randint(-1, 2, (300,), generator=generator), torch.full((300,), 4),
                          torch.randint(-1, 8, (300,), generator=generator)], dim=1)
    for columns in ([0], [2], [0, 1, 2], [2, 0]):
        expected = torch.unique(labels[:, columns], dim=0, return_inverse=True)[1]
        assert torch.equal(strata(labels[:, columns]), expected), columns


def test_epoch_order_instance_is_a_permutation():
    order = epoch_order(10, "instance", torch.ones(10), torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(range(10))
    with pytest.raises(ValueError, match="unknown sampler 'stratified'"):
        epoch_order(10, "stratified", torch.ones(10), torch.Generator())
