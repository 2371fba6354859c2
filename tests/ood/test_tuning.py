import numpy as np
import pytest

from samderm.ood import DETECTORS, KNN, ODIN, Energy
from samderm.ood.tuning import GRIDS, UNTUNED, detector_grid, tune

OOD_CONFIG = {"odin": {"temperatures": [1, 1000], "epsilons": [0.0, 0.01, 0.05]}, "energy": {"temperatures": [1, 10]},
              "knn": {"ks": [5, 50, 5000]}, "vim": {"principal_dims": [4, 8]}, "gen": {"gammas": [0.1, 1], "top_ms": [2, 4]}}


def test_grids_come_from_the_config_in_order():
    odin = detector_grid("odin", OOD_CONFIG)
    assert odin == [{"temperature": t, "epsilon": e} for t in (1.0, 1000.0) for e in (0.0, 0.01, 0.05)]
    assert detector_grid("energy", OOD_CONFIG) == [{"temperature": 1.0}, {"temperature": 10.0}]
    assert detector_grid("msp", OOD_CONFIG) == [{}] and detector_grid("mahalanobis", OOD_CONFIG) == [{}]
    assert detector_grid("knn", OOD_CONFIG) == [{"k": 5}, {"k": 50}, {"k": 5000}]
    assert detector_grid("vim", OOD_CONFIG) == [{"principal_dim": 4}, {"principal_dim": 8}]
    assert detector_grid("gen", OOD_CONFIG) == [{"gamma": g, "top_m": m} for g in (0.1, 1.0) for m in (2, 4)]
    # every registered detector has a grid or none, and every grid's arguments are the constructor's
    assert set(DETECTORS) == set(GRIDS) | set(UNTUNED)
    for name in GRIDS:
        DETECTORS[name](**detector_grid(name, OOD_CONFIG)[0])
    with pytest.raises(ValueError, match="unknown OOD detector 'nonsense'"):
        detector_grid("nonsense", OOD_CONFIG)
    with pytest.raises(ValueError, match=r"ood.knn.ks must list"):
        detector_grid("knn", {"knn": {"ks": []}})


def test_tune_skips_grid_points_the_training_data_cannot_support(synthetic):
    train_x, train_y = synthetic["train"]  # 400 images: k=5000 cannot apply
    detector, records = tune(KNN, detector_grid("knn", OOD_CONFIG), (train_x, train_y, None), synthetic["id"][:100], synthetic["shifted"][:100])
    assert [r["k"] for r in records] == [5, 50] and detector.k in (5, 50)
    with pytest.raises(ValueError, match="no grid point of KNN fits the training data: KNN k=5000"):
        tune(KNN, [{"k": 5000}], (train_x, train_y, None), synthetic["id"][:100], synthetic["shifted"][:100])


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
