import numpy as np
import pytest
import torch
from pytorch_ood.metrics import OODMetrics

from samderm.ood.metrics import ood_curves, ood_metrics


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
    assert ours["fpr_at_95_tpr"] == pytest.approx(reference["FPR95TPR"], abs=1e-12)
    assert ours["aupr_in"] != pytest.approx(ours["aupr_out"], abs=1e-3)


def test_perfect_separation_and_direction():
    ours = ood_metrics(id_scores=[0.0, 0.1, 0.2], ood_scores=[1.0, 2.0])
    assert ours == {"auroc": 1.0, "aupr_in": 1.0, "aupr_out": 1.0, "fpr_at_95_tpr": 0.0}
    # reversed scores: every OOD image looks more in-distribution than every lesion
    assert ood_metrics(id_scores=[1.0, 2.0], ood_scores=[0.0, 0.1])["auroc"] == 0.0


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
