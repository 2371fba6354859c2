"""Each loss against values computed in the test, with numpy, from its paper's equation
(and the public reference code's conventions where the paper leaves one open)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from samderm.losses import FocalLoss, LDAMLoss, LMFLoss, WeightedCrossEntropy, build_loss, cosine_scale, ldam_margins
from samderm.losses.base import effective_number_weights, inverse_frequency_weights

COUNTS = [50, 8, 2]
COS = np.array([[0.9, -0.2, 0.1], [0.3, 0.6, -0.5], [-0.4, 0.2, 0.7], [0.1, 0.8, 0.0], [0.5, -0.1, 0.2]])
TARGET = np.array([0, 1, 2, 1, 2])


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-log softmax(z_i)_{y_i} per sample."""
    return -log_softmax(z)[np.arange(len(y)), y]


def t(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float32)


# --- weighted cross-entropy: sum_i w_{y_i} l_i / sum_i w_{y_i} -----------------------------------

def test_weighted_ce_is_the_weighted_mean_by_hand():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [0.3, -0.2, 0.1], [1.0, 1.0, 0.0]])
    y = np.array([0, 1, 2, 0])
    w = 1.0 / np.array(COUNTS, dtype=float)
    w = w * 3 / w.sum()  # inverse frequency, scaled to sum to the number of classes
    expected = (w[y] * nll(logits, y)).sum() / w[y].sum()
    value = WeightedCrossEntropy(COUNTS, "inverse_frequency")(t(logits), torch.tensor(y))
    assert value.item() == pytest.approx(expected, abs=1e-5)
    assert abs(expected - (w[y] * nll(logits, y)).mean()) > 0.1  # the two conventions differ on this batch


def test_weighted_ce_equals_torch_cross_entropy_with_class_weights():
    logits, y = torch.randn(64, 5, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 5
    loss = WeightedCrossEntropy([100, 30, 10, 3, 1], "effective_number", 0.99)
    reference = torch.nn.functional.cross_entropy(logits, y, weight=loss.weights)
    torch.testing.assert_close(loss(logits, y), reference, rtol=0, atol=0)


def test_soft_targets_weight_each_sample_by_sum_of_class_weights_times_targets():
    logits = np.array([[1.0, 0.0, -1.0], [0.2, 0.4, 0.1]])
    soft = np.array([[0.7, 0.3, 0.0], [0.0, 0.25, 0.75]])
    w = np.array([0.2, 0.8, 2.0])
    per_sample = -(soft * log_softmax(logits)).sum(axis=1)
    sample_w = soft @ w
    expected = (sample_w * per_sample).sum() / sample_w.sum()
    loss = WeightedCrossEntropy([1, 1, 1], "none")
    loss.weights = t(w)
    assert loss(t(logits), t(soft)).item() == pytest.approx(expected, abs=1e-5)


def test_weighting_none_is_plain_cross_entropy():
    logits, target = torch.randn(7, 4), torch.tensor([0, 1, 2, 3, 0, 1, 2])
    value = WeightedCrossEntropy([5, 1, 1, 1], "none")(logits, target)
    assert value.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, target).item(), rel=1e-6)


def test_class_weights_by_hand():
    assert inverse_frequency_weights([1, 3]).tolist() == pytest.approx([1.5, 0.5])
    # effective number, beta 0.9: (1-b)/(1-b^1) = 1, (1-b)/(1-b^2) = 1/1.9; scaled to sum 2
    w = [1.0, 1 / 1.9]
    assert effective_number_weights([1, 2], 0.9).tolist() == pytest.approx([2 * x / sum(w) for x in w])


# --- focal (Lin et al. 2017): mean_i -alpha_t (1 - p_t)^gamma log p_t ------------------------------

def focal_by_hand(z: np.ndarray, y: np.ndarray, gamma: float, alpha: np.ndarray | None = None) -> float:
    log_pt = log_softmax(z)[np.arange(len(y)), y]
    alpha_t = np.ones(len(y)) if alpha is None else alpha[y]
    return float(np.mean(-alpha_t * (1 - np.exp(log_pt)) ** gamma * log_pt))


def test_focal_with_per_class_alpha_by_hand():
    z = 4 * COS
    alpha = np.array([0.25, 1.5, 3.0])
    value = FocalLoss(3, gamma=2.0, alpha=alpha.tolist())(t(z), torch.tensor(TARGET))
    assert value.item() == pytest.approx(focal_by_hand(z, TARGET, 2.0, alpha), abs=1e-5)


def test_focal_with_gamma_zero_is_cross_entropy():
    logits, target = torch.randn(9, 5), torch.randint(0, 5, (9,))
    value = FocalLoss(5, gamma=0.0)(logits, target)
    assert value.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, target).item(), rel=1e-6)


def test_binary_focal_matches_torchvision_sigmoid_focal_loss():
    # softmax over logits (0, z) is sigmoid(z) for class 1; alpha (1-a, a) is torchvision's alpha_t
    z, y = torch.randn(32), torch.randint(0, 2, (32,))
    ours = FocalLoss(2, gamma=2.0, alpha=[0.75, 0.25])(torch.stack([torch.zeros_like(z), z], dim=1), y)
    reference = torchvision.ops.sigmoid_focal_loss(z, y.float(), alpha=0.25, gamma=2.0, reduction="mean")
    assert ours.item() == pytest.approx(reference.item(), rel=1e-5)


# --- LDAM (Cao et al. 2019): CE(s * (cos - m_y e_y)), m_j = C / n_j^(1/4), max m = max_m ----------

def ldam_by_hand(cos: np.ndarray, y: np.ndarray, counts, max_m: float, s: float, w: np.ndarray | None = None) -> float:
    m = 1.0 / np.array(counts, dtype=float) ** 0.25
    m = m * max_m / m.max()
    shifted = cos - np.eye(cos.shape[1])[y] * m[y][:, None]
    losses = nll(s * shifted, y)
    weights = np.ones(len(y)) if w is None else w[y]
    return float((weights * losses).sum() / weights.sum())


def effective_weights_by_hand(counts, beta: float) -> np.ndarray:
    w = (1 - beta) / (1 - beta ** np.array(counts, dtype=float))
    return w * len(counts) / w.sum()


def test_ldam_margins_for_given_counts():
    margins = ldam_margins([100, 10, 1], max_m=0.5)
    assert margins.tolist() == pytest.approx([0.5 * 100 ** -0.25, 0.5 * 10 ** -0.25, 0.5], rel=1e-6)


def test_ldam_by_hand():
    # the cosine head outputs s * cos; LDAM subtracts s * m_y from the target logit
    loss = LDAMLoss(COUNTS, max_m=0.5, s=30.0)
    value = loss(t(30.0 * COS), torch.tensor(TARGET))
    assert value.item() == pytest.approx(ldam_by_hand(COS, TARGET, COUNTS, 0.5, 30.0), abs=1e-5)


def test_ldam_drw_by_hand_before_and_from_the_drw_epoch():
    loss = build_loss({"type": "ldam_drw", "max_m": 0.5, "s": 10.0, "drw_epoch": 3, "drw_beta": 0.99}, COUNTS)
    z, y = t(10.0 * COS), torch.tensor(TARGET)
    loss.start_epoch(2)
    assert loss(z, y).item() == pytest.approx(ldam_by_hand(COS, TARGET, COUNTS, 0.5, 10.0), abs=1e-5)
    loss.start_epoch(3)
    w = effective_weights_by_hand(COUNTS, 0.99)
    expected = ldam_by_hand(COS, TARGET, COUNTS, 0.5, 10.0, w)
    assert loss(z, y).item() == pytest.approx(expected, abs=1e-5)
    assert abs(expected - ldam_by_hand(COS, TARGET, COUNTS, 0.5, 10.0)) > 0.05


def test_ldam_never_reweights():
    loss = build_loss({"type": "ldam", "max_m": 0.5, "s": 30.0}, COUNTS)
    loss.start_epoch(10_000)
    assert loss(t(30.0 * COS), torch.tensor(TARGET)).item() == pytest.approx(
        ldam_by_hand(COS, TARGET, COUNTS, 0.5, 30.0), abs=1e-5)


# --- LMF (Sadi et al. 2023): alpha * LDAM(out) + beta * focal(out), out the raw head output ---------

LMF = {"type": "lmf", "alpha": 0.3, "beta": 1.7, "gamma": 1.5, "max_m": 0.5, "s": 30.0}


def test_lmf_by_hand_with_alpha_on_ldam_and_beta_on_focal():
    loss = build_loss(LMF, COUNTS)
    assert isinstance(loss, LMFLoss)
    expected = 0.3 * ldam_by_hand(COS, TARGET, COUNTS, 0.5, 30.0) + 1.7 * focal_by_hand(COS, TARGET, 1.5)
    assert loss(t(30.0 * COS), torch.tensor(TARGET)).item() == pytest.approx(expected, abs=1e-5)


def test_lmf_focal_term_sees_the_cosine_not_the_scaled_logits():
    loss = build_loss(LMF, COUNTS)
    focal_part = (loss(t(30.0 * COS), torch.tensor(TARGET)).item()
                  - 0.3 * ldam_by_hand(COS, TARGET, COUNTS, 0.5, 30.0)) / 1.7
    assert focal_part == pytest.approx(focal_by_hand(COS, TARGET, 1.5), abs=1e-5)
    assert abs(focal_part - focal_by_hand(30.0 * COS, TARGET, 1.5)) > 0.1


def test_lmf_defaults_are_the_reference_code_constructor_defaults():
    loss = build_loss({"type": "lmf"}, COUNTS)
    assert (loss.alpha, loss.beta, loss.ldam.s, loss.focal.gamma) == (1.0, 1.0, 30.0, 2.0)


# --- shared behaviour -------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", [
    {"type": "weighted_ce", "weighting": "effective_number", "beta": 0.99},
    {"type": "focal", "gamma": 1.5},
    {"type": "ldam", "max_m": 0.5, "s": 30.0},
    {"type": "ldam_drw", "max_m": 0.5, "s": 30.0, "drw_epoch": 0},
    {"type": "lmf", "max_m": 0.5, "s": 30.0, "gamma": 2.0},
])
def test_soft_one_hot_targets_equal_class_indices(cfg):
    logits, target = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    loss = build_loss(cfg, [10, 4, 1])
    loss.start_epoch(0)
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
    with pytest.raises(ValueError, match="ldam_drw needs drw_epoch"):
        build_loss({"type": "ldam_drw"}, [5, 5])


def test_ldam_ldam_drw_and_lmf_get_a_cosine_head():
    assert cosine_scale({"type": "ldam", "s": 30.0}) == 30.0
    assert cosine_scale({"type": "ldam_drw"}) == 30.0
    assert cosine_scale({"type": "lmf", "s": 10.0}) == 10.0
    assert cosine_scale({"type": "focal", "s": 30.0}) is None
