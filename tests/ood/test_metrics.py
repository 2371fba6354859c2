import numpy as np
import pytest
import torch
from pytorch_ood.metrics import OODMetrics
from pytorch_ood.metrics.functional import fpr_at_tpr

from samderm.ood.gate import gate_threshold
from samderm.ood.metrics import ID_FLAGGED, METRICS, OOD_ACCEPTED, ood_curves, ood_metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_pytorch_ood(seed):
    rng = np.random.default_rng(seed)
    # rounded scores make ties, unequal group sizes make AUPR-In and AUPR-Out differ
    id_scores = np.round(rng.normal(0.0, 1.0, 250), 1)
    ood_scores = np.round(rng.normal(0.8, 1.2, 70), 1)
    # pytorch-ood: labels < 0 are OOD, the positive class; larger score = more likely OOD
    labels = torch.tensor([0] * len(id_scores) + [-1] * len(ood_scores))
    reference = OODMetrics().update(torch.tensor(np.concatenate([id_scores, ood_scores])), labels).compute()
    ours = ood_metrics(id_scores, ood_scores)
    assert ours["auroc"] == pytest.approx(reference["AUROC"], abs=1e-12)
    assert ours["aupr_in"] == pytest.approx(reference["AUPR-IN"], abs=1e-12)
    assert ours["aupr_out"] == pytest.approx(reference["AUPR-OUT"], abs=1e-12)
    assert ours[ID_FLAGGED] == pytest.approx(reference["FPR95TPR"], abs=1e-12)
    assert ours["aupr_in"] != pytest.approx(ours["aupr_out"], abs=1e-3)


def test_perfect_separation_and_direction():
    ours = ood_metrics(id_scores=[0.0, 0.1, 0.2], ood_scores=[1.0, 2.0])
    assert ours == {"auroc": 1.0, "aupr_in": 1.0, "aupr_out": 1.0, ID_FLAGGED: 0.0, OOD_ACCEPTED: 0.0}
    # reversed scores: every OOD image looks more in-distribution than every lesion
    assert ood_metrics(id_scores=[1.0, 2.0], ood_scores=[0.0, 0.1])["auroc"] == 0.0


# 20 in-distribution and 20 OOD scores (higher = more likely OOD), so 95% is 19 images of 20.
# Two in-distribution outliers (25, 26) and one at 20, tied with an OOD image; one OOD image at 25
# tied with the in-distribution outlier.
HAND_ID = np.array([*range(17), 20, 25, 26], dtype=float)
HAND_OOD = np.array([3, *range(20, 39)], dtype=float)


def test_both_fpr_conventions_against_hand_counts():
    assert len(HAND_ID) == len(HAND_OOD) == 20
    ours = ood_metrics(HAND_ID, HAND_OOD)
    # OpenOOD: flag score >= t. OOD from the top: 38, 37, ..., 20 is the 19th image, so t = 20
    # catches 19/20 OOD (only 3 escapes). In-distribution flagged: 20 (the tie), 25, 26 = 3 of 20.
    assert ours[ID_FLAGGED] == 3 / 20
    # ODIN/Energy: accept score <= t. In-distribution from the bottom: 0..16 are 17 images,
    # 20 the 18th, 25 the 19th, so t = 25 accepts 19/20. OOD accepted: 3, 20, 21, 22, 23, 24,
    # 25 (the tie) = 7 of 20.
    assert ours[OOD_ACCEPTED] == 7 / 20
    # the same numbers from the definitions by brute force over every possible threshold
    flag_t = max(t for t in HAND_OOD if (HAND_OOD >= t).mean() >= 0.95)
    accept_t = min(t for t in HAND_ID if (HAND_ID <= t).mean() >= 0.95)
    assert (flag_t, accept_t) == (20, 25)
    assert ours[ID_FLAGGED] == (HAND_ID >= flag_t).mean() and ours[OOD_ACCEPTED] == (HAND_OOD <= accept_t).mean()


def test_ood_accepted_is_what_the_gate_lets_through():
    # the gate's threshold at 95% in-distribution recall accepts exactly the OOD images counted above
    threshold = gate_threshold(HAND_ID, 0.95)
    assert threshold == 25 and (HAND_OOD <= threshold).mean() == ood_metrics(HAND_ID, HAND_OOD)[OOD_ACCEPTED]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_fpr_conventions_equal_pytorch_ood(seed):
    rng = np.random.default_rng(seed)
    id_scores, ood_scores = np.round(rng.normal(0, 1, 200), 1), np.round(rng.normal(1.5, 1, 90), 1)
    scores = torch.tensor(np.concatenate([id_scores, ood_scores]))
    is_ood = torch.tensor([False] * len(id_scores) + [True] * len(ood_scores))
    ours = ood_metrics(id_scores, ood_scores)
    # pytorch-ood implements OpenOOD's convention (labels < 0 are OOD, the positive class) ...
    assert ours[ID_FLAGGED] == pytest.approx(float(fpr_at_tpr(scores, torch.where(is_ood, -1, 0))), abs=1e-12)
    # ... and the other one when in-distribution is made the positive class and the scores negated
    assert ours[OOD_ACCEPTED] == pytest.approx(float(fpr_at_tpr(-scores, torch.where(is_ood, 0, -1))), abs=1e-12)
    assert ours[ID_FLAGGED] != pytest.approx(ours[OOD_ACCEPTED], abs=1e-3)


def test_metric_names_say_what_they_count():
    assert METRICS == ("auroc", "aupr_in", "aupr_out", "id_flagged_at_95_ood_caught", "ood_accepted_at_95_id_accepted")


def test_metrics_name_missing_groups():
    with pytest.raises(ValueError, match=r"in-distribution \(3\) and OOD \(0\)"):
        ood_metrics([0.1, 0.2, 0.3], [])
    with pytest.raises(ValueError, match="NaN"):
        ood_metrics([0.1, np.nan], [0.3])


def test_curves_agree_with_the_metrics():
    rng = np.random.default_rng(5)
    id_scores, ood_scores = rng.normal(0, 1, 100), rng.normal(1, 1, 40)
    curves = ood_curves(id_scores, ood_scores)
    roc, pr = curves[curves["curve"] == "roc"], curves[curves["curve"] == "pr"]
    assert (roc["x"].iloc[0], roc["y"].iloc[0], roc["x"].iloc[-1], roc["y"].iloc[-1]) == (0, 0, 1, 1)
    assert (pr["x"].iloc[-1], pr["y"].iloc[-1]) == (0, 1)
    metrics = ood_metrics(id_scores, ood_scores)
    assert np.trapezoid(roc["y"], roc["x"]) == pytest.approx(metrics["auroc"])
    assert -np.trapezoid(pr["y"], pr["x"]) == pytest.approx(metrics["aupr_out"])
