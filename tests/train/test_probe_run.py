"""Probe runs: one probe per task on the run's rows, predictions for every original image, and val
predictions of the published (train + val) probe from a fit that never saw val."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from samderm.heads.probes import PublishedLinearProbe
from samderm.train import build_run_data, task_classes
from samderm.train.probes import fit_probes, probe_settings
from tests.train.conftest import LABELS, synthetic_tables


def _data(separation: float = 1.0, augmented: int = 0):
    t = synthetic_tables(per_class=20, dim=8, separation=separation, augmented=augmented)
    return build_run_data(t["views"], t["manifest"], t["view_ids"], t["features"], task_classes(LABELS), splits=t["splits"])


def test_the_published_probe_scores_val_with_a_train_only_fit_and_the_rest_with_train_plus_val():
    data = _data()
    probabilities, described = fit_probes(data, {"type": "linear_probe", "protocol": "published"}, seed=3,
                                          selection_metric="macro_f1")
    rows = np.flatnonzero(data.original)
    j = list(data.tasks).index("lesion")
    y, n_classes = data.labels[:, j], len(data.tasks["lesion"])
    train, val = data.rows("train", "lesion"), data.rows("val", "lesion")
    train_only = PublishedLinearProbe(n_classes, combine_train_val=False, random_state=3).fit(data.features[train], y[train])
    combined = PublishedLinearProbe(n_classes, random_state=3).fit(data.features[train], y[train],
                                                                   data.features[val], y[val])
    p = probabilities["lesion"]
    labelled = y[rows] >= 0
    is_val = (data.split[rows] == "val") & labelled
    is_test = (data.split[rows] == "test") & labelled
    np.testing.assert_allclose(p[is_val], train_only.predict_proba(data.features[rows[is_val]]), atol=1e-6)
    np.testing.assert_allclose(p[is_test], combined.predict_proba(data.features[rows[is_test]]), atol=1e-6)
    # the two fits differ on val, so the assertions above tell them apart
    assert np.abs(train_only.predict_proba(data.features[val]) - combined.predict_proba(data.features[val])).max() > 1e-3
    assert described["lesion"]["fitted_on"] == "train+val"
    assert described["lesion"]["val_predictions_from"] == "train-only fit"
    assert described["lesion"]["C"] == 8 * n_classes / 100  # feature dim x classes in train / 100


def test_the_tuned_probe_uses_the_study_selection_metric_and_the_run_seed_and_equals_scikit_learn():
    data = _data()
    settings = probe_settings({"type": "linear_probe", "protocol": "tuned", "hidden": [256], "dropout": 0.2,
                               "c_grid": [0.01, 1]}, seed=5, selection_metric="balanced_accuracy")
    assert settings == {"protocol": "tuned", "c_grid": (0.01, 1.0), "random_state": 5,
                        "selection_metric": "balanced_accuracy"}
    probabilities, described = fit_probes(data, {"type": "linear_probe", "protocol": "tuned", "c_grid": [0.01, 1]},
                                          seed=5, selection_metric="macro_f1")
    j = list(data.tasks).index("malignancy")
    y = data.labels[:, j]
    train = data.rows("train", "malignancy")
    chosen = described["malignancy"]["C"]
    assert chosen in (0.01, 1.0) and described["malignancy"]["fitted_on"] == "train"
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=chosen, max_iter=1000, random_state=5))
    reference.fit(data.features[train], y[train])
    rows = np.flatnonzero(data.original)
    labelled = y[rows] >= 0
    np.testing.assert_allclose(probabilities["malignancy"][labelled],
                               reference.predict_proba(data.features[rows[labelled]]), atol=1e-8)


def test_knn_and_majority_probes_train_on_the_runs_train_rows_augmented_copies_included():
    data = _data(augmented=2)
    rows = np.flatnonzero(data.original)
    j = list(data.tasks).index("lesion")
    y = data.labels[:, j]
    train = data.rows("train", "lesion")
    assert (~data.original[train]).any()  # the copies are train rows, as for the MLP heads
    probabilities, _ = fit_probes(data, {"type": "knn_probe", "k": 5, "weights": "distance"}, seed=0,
                                  selection_metric="macro_f1")
    reference = make_pipeline(StandardScaler(), KNeighborsClassifier(5, metric="cosine", weights="distance"))
    reference.fit(data.features[train], y[train])
    labelled = y[rows] >= 0
    np.testing.assert_allclose(probabilities["lesion"][labelled], reference.predict_proba(data.features[rows[labelled]]))
    majority, _ = fit_probes(data, {"type": "majority"}, seed=0, selection_metric="macro_f1")
    prior = np.bincount(y[train], minlength=8) / len(train)
    np.testing.assert_allclose(majority["lesion"][labelled], np.tile(prior, (int(labelled.sum()), 1)))
