"""Each loss against values computed by hand from its paper's formula."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision

from samderm.losses import FocalLoss, LDAMLoss, LMFLoss, WeightedCrossEntropy, build_loss, cosine_scale, ldam_margins
from samderm.losses.base import effective_number_weights, inverse_frequency_weights


def log_softmax_of(logits, j):
    return logits[j] - math.log(sum(math.exp(v) for v in logits))


def test_weighted_ce_by_hand():
    # counts 3:1 -> inverse-frequency weights 1/3 : 1, scaled to sum 2 -> 0.5, 1.5
    loss = WeightedCrossEntropy([3, 1], "inverse_frequency")
    value = loss(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
    expected = (-0.5 * log_softmax_of([2.0, 0.0], 0) - 1.5 * log_softmax_of([0.0, 1.0], 1)) / 2
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_weighting_none_is_plain_cross_entropy():
    logits, target = torch.randn(7, 4), torch.tensor([0, 1, 2, 3, 0, 1, 2])
    value = WeightedCrossEntropy([5, 1, 1, 1], "none")(logits, target)
    assert value.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, target).item(), rel=1e-6)


def test_class_weights_by_hand():
    assert inverse_frequency_weights([1, 3]).tolist() == pytest.approx([1.5, 0.5])
    # effective number, beta 0.9: (1-b)/(1-b^1) = 1, (1-b)/(1-b^2) = 1/1.9; scaled to sum 2
    w = [1.0, 1 / 1.9]
    assert effective_number_weights([1, 2], 0.9).tolist() == pytest.approx([2 * x / sum(w) for x in w])


def test_focal_by_hand():
    p = math.exp(log_softmax_of([1.0, 0.0], 0))
    value = FocalLoss(2, gamma=2.0)(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    assert value.item() == pytest.approx(-((1 - p) ** 2) * math.log(p), rel=1e-6)


def test_focal_with_gamma_zero_is_cross_entropy():
    logits, target = torch.randn(9, 5), torch.randint(0, 5, (9,))
    value = FocalLoss(5, gamma=0.0)(logits, target)
    assert value.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, target).item(), rel=1e-6)


def test_binary_focal_matches_torchvision_sigmoid_focal_loss():
    # softmax over logits (0, z) is sigmoid(z) for class 1; alpha (1-a, a) is torchvision's alpha_t
    z, t = torch.randn(32), torch.randint(0, 2, (32,))
    ours = FocalLoss(2, gamma=2.0, alpha=[0.75, 0.25])(torch.stack([torch.zeros_like(z), z], dim=1), t)
    reference = torchvision.ops.sigmoid_focal_loss(z, t.float(), alpha=0.25, gamma=2.0, reduction="mean")
    assert ours.item() == pytest.approx(reference.item(), rel=1e-5)


def test_ldam_margins_for_given_counts():
    margins = ldam_margins([100, 10, 1], max_m=0.5)
    assert margins.tolist() == pytest.approx([0.5 * 100 ** -0.25, 0.5 * 10 ** -0.25, 0.5], rel=1e-6)


def test_ldam_by_hand():
    # counts 16:1 -> margins 0.25, 0.5; s=2 shifts the target logit 1.0 by 0.5 -> (0.5, 0.5) -> log 2
    loss = LDAMLoss([16, 1], max_m=0.5, s=2.0)
    assert loss(torch.tensor([[1.0, 0.5]]), torch.tensor([0])).item() == pytest.approx(math.log(2), rel=1e-6)


def test_ldam_drw_switches_to_effective_number_weights_at_drw_epoch():
    logits, target = torch.tensor([[1.0, 0.5], [0.2, 0.1]]), torch.tensor([0, 1])
    loss = LDAMLoss([16, 1], max_m=0.5, s=2.0, drw_epoch=3, beta=0.9)
    loss.start_epoch(2)
    shifted = [[0.5, 0.5], [0.2, 0.1 - 1.0]]
    plain = -(log_softmax_of(shifted[0], 0) + log_softmax_of(shifted[1], 1)) / 2
    assert loss(logits, target).item() == pytest.approx(plain, rel=1e-6)
    loss.start_epoch(3)
    w = [(1 - 0.9) / (1 - 0.9 ** 16), 1.0]
    w = [2 * x / sum(w) for x in w]
    weighted = -(w[0] * log_softmax_of(shifted[0], 0) + w[1] * log_softmax_of(shifted[1], 1)) / 2
    assert loss(logits, target).item() == pytest.approx(weighted, rel=1e-6)


def test_lmf_is_weighted_sum_of_ldam_and_focal_on_the_same_logits():
    loss = build_loss({"type": "lmf", "alpha": 0.3, "lmf_beta": 0.7, "gamma": 2.0, "max_m": 0.5, "s": 2.0}, [16, 1])
    assert isinstance(loss, LMFLoss)
    p = math.exp(log_softmax_of([1.0, 0.5], 0))
    expected = 0.3 * math.log(2) + 0.7 * (-((1 - p) ** 2) * math.log(p))
    assert loss(torch.tensor([[1.0, 0.5]]), torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("cfg", [
    {"type": "weighted_ce", "weighting": "effective_number", "beta": 0.99},
    {"type": "focal", "gamma": 1.5},
    {"type": "ldam", "max_m": 0.5, "s": 30.0},
    {"type": "lmf", "max_m": 0.5, "s": 30.0, "gamma": 2.0},
])
def test_soft_one_hot_targets_equal_class_indices(cfg):
    logits, target = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    loss = build_loss(cfg, [10, 4, 1])
    soft = torch.nn.functional.one_hot(target, 3).float()
    assert loss(logits, soft).item() == pytest.approx(loss(logits, target).item(), rel=1e-6)


def test_soft_targets_are_a_linear_mix_of_the_two_losses():
    logits = torch.randn(4, 3)
    a, b = torch.tensor([0, 1, 2, 0]), torch.tensor([2, 2, 1, 1])
    loss = build_loss({"type": "focal", "gamma": 0.0}, [1, 1, 1])
    mixed = 0.3 * torch.nn.functional.one_hot(a, 3).float() + 0.7 * torch.nn.functional.one_hot(b, 3).float()
    assert loss(logits, mixed).item() == pytest.approx(0.3 * loss(logits, a).item() + 0.7 * loss(logits, b).item(), rel=1e-5)


def test_focal_alpha_per_task_and_bad_configs_are_named():
    loss = build_loss({"type": "focal", "gamma": 2.0, "alpha": {"skin": [0.25, 0.75]}}, [5, 5], "skin")
    assert loss.alpha.tolist() == [0.25, 0.75]
    assert build_loss({"type": "focal", "alpha": {"skin": [0.25, 0.75]}}, [1] * 8, "lesion").alpha.tolist() == [1.0] * 8
    with pytest.raises(ValueError, match="3 values for 2 classes"):
        build_loss({"type": "focal", "alpha": {"skin": [1, 1, 1]}}, [5, 5], "skin")
    with pytest.raises(ValueError, match="mapping"):
        build_loss({"type": "focal", "alpha": [0.2, 0.8]}, [5, 5], "skin")
    with pytest.raises(ValueError, match="unknown loss type 'hinge'"):
        build_loss({"type": "hinge"}, [5, 5])
    with pytest.raises(ValueError, match="unknown class weighting 'sqrt'"):
        build_loss({"type": "weighted_ce", "weighting": "sqrt"}, [5, 5])


def test_only_ldam_and_lmf_get_a_cosine_head():
    assert cosine_scale({"type": "ldam", "s": 30.0}) == 30.0
    assert cosine_scale({"type": "lmf", "s": 10.0}) == 10.0
    assert cosine_scale({"type": "focal", "s": 30.0}) is None
