import numpy as np
import pytest

from samderm.ood import ODIN, Energy
from samderm.ood.tuning import detector_grid, tune

OOD_CONFIG = {"odin": {"temperatures": [1, 1000], "epsilons": [0.0, 0.01, 0.05]}, "energy": {"temperatures": [1, 10]}}


def test_grids_come_from_the_config_in_order():
    odin = detector_grid("odin", OOD_CONFIG)
    assert odin == [{"temperature": t, "epsilon": e} for t in (1.0, 1000.0) for e in (0.0, 0.01, 0.05)]
    assert detector_grid("energy", OOD_CONFIG) == [{"temperature": 1.0}, {"temperature": 10.0}]
    assert detector_grid("msp", OOD_CONFIG) == [{}] and detector_grid("mahalanobis", OOD_CONFIG) == [{}]
    with pytest.raises(ValueError, match="unknown OOD detector 'knn'"):
        detector_grid("knn", OOD_CONFIG)


def test_tune_keeps_the_best_validation_auroc(synthetic):
    train_x, train_y = synthetic["train"]
    grid = detector_grid("odin", OOD_CONFIG)
    # OOD halfway towards a class: hard enough that the grid points differ on val
    val_id, val_ood = synthetic["id"][:150], synthetic["halfway"][:150]
    detector, records = tune(ODIN, grid, (train_x, train_y, synthetic["model"]), val_id, val_ood)
    aurocs = [r["val_auroc"] for r in records]
    assert len(records) == len(grid) and sum(r["chosen"] for r in records) == 1
    best = records[int(np.argmax(aurocs))]
    assert best["chosen"] and (detector.temperature, detector.epsilon) == (best["temperature"], best["epsilon"])
    # the grid really differs on val, so the choice matters; here the largest T and epsilon win
    assert max(aurocs) > min(aurocs) + 0.01
    assert (detector.temperature, detector.epsilon) == (1000.0, 0.05)


def test_tune_breaks_ties_by_grid_order(synthetic):
    train_x, train_y = synthetic["train"]
    # Energy's AUROC is the same for every grid point when the scores separate perfectly
    far = synthetic["shifted"][:50] * 0 + 100.0
    detector, records = tune(Energy, [{"temperature": 10.0}, {"temperature": 1.0}], (train_x, train_y, lambda x: -x.abs().sum(1, keepdim=True).repeat(1, 2)), synthetic["id"][:50], far)
    assert [r["val_auroc"] for r in records] == [1.0, 1.0]
    assert detector.temperature == 10.0 and records[0]["chosen"] and not records[1]["chosen"]
