import numpy as np
import pytest
import torch
from pytorch_ood.metrics import OODMetrics
from pytorch_ood.metrics.functional import fpr_at_tpr
from sklearn.metrics import roc_curve

from samderm.ood.gate import gate_threshold
from samderm.ood.metrics import ID_FLAGGED, METRICS, OOD_ACCEPTED, convention, ood_curves, ood_metrics


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


# the issue's example: the papers' code picks another operating point than our first threshold at 95%
EXAMPLE_ID, EXAMPLE_OOD = np.arange(20.0), np.array([18.2, 18.4, 18.6, 18.8, 25.0])


def fpr_at_nearest_tpr(id_scores, ood_scores, rate=0.95):
    """The Energy (Liu et al. 2020) and Mahalanobis (Lee et al. 2018) code: in-distribution positive
    (accepted: score <= t), operating points from the highest threshold down, the first whose TPR is nearest
    `rate`."""
    thresholds = np.unique(np.concatenate([id_scores, ood_scores]))[::-1]
    tpr = np.array([(id_scores <= t).mean() for t in thresholds])
    fpr = np.array([(ood_scores <= t).mean() for t in thresholds])
    return fpr[np.argmin(np.abs(tpr - rate))]


def test_ood_accepted_is_not_the_papers_nearest_tpr_point():
    # t = 18 accepts 19 of 20 in-distribution images and no OOD image; 18.2 .. 18.8 also sit at TPR 0.95
    assert ood_metrics(EXAMPLE_ID, EXAMPLE_OOD)[OOD_ACCEPTED] == 0.0
    assert fpr_at_nearest_tpr(EXAMPLE_ID, EXAMPLE_OOD) == pytest.approx(0.8)


def test_the_convention_says_how_the_papers_code_differs():
    text = convention()
    assert "FPR at 95% TPR of the ODIN" not in text and "differs from the FPR at 95% TPR" in text
    assert "18.2, 18.4, 18.6, 18.8, 25 it is 0.0 here, 0.8 by the Energy and Mahalanobis code and 0.4 by ODIN's" in text
    assert "OpenOOD v1.5's code differs only on tied scores" in text


def openood_fpr95(id_scores, ood_scores):
    """OpenOOD v1.5 (openood/evaluators/metrics.py): OOD positive, roc_curve with its default
    drop_intermediate, the FPR of the first point with TPR >= 0.95."""
    fpr, tpr, _ = roc_curve(np.r_[np.zeros(len(id_scores)), np.ones(len(ood_scores))], np.r_[id_scores, ood_scores])
    return fpr[np.argmax(tpr >= 0.95)]


def test_id_flagged_differs_from_openood_only_on_tied_scores():
    for seed in range(3):  # continuous scores: no ties
        rng = np.random.default_rng(seed)
        id_scores, ood_scores = rng.normal(0, 1, 200), rng.normal(1.5, 1, 90)
        assert ood_metrics(id_scores, ood_scores)[ID_FLAGGED] == openood_fpr95(id_scores, ood_scores)
    # 17 OOD images far up, then three scores each shared by one OOD and one in-distribution image: the
    # equal diagonal ROC steps are collinear, so OpenOOD's curve skips the point where TPR reaches 0.95
    ood_scores, id_scores = np.r_[[100.0] * 17, 5, 4, 3], np.r_[5, 4, 3, [0.0] * 17]
    assert ood_metrics(id_scores, ood_scores)[ID_FLAGGED] == pytest.approx(2 / 20)
    assert openood_fpr95(id_scores, ood_scores) == pytest.approx(3 / 20)
