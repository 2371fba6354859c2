"""scikit-learn metrics in the metrics.json layout, and the ISIC tables against the official scorer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from samderm.metrics import classification_metrics, isic_tables, write_csv


def test_metrics_by_hand():
    m = classification_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3) and m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0) / 3)
    assert m["n"] == 5


def test_absent_class_gets_zero_support_and_empty_split_only_n():
    m = classification_metrics([0, 0], [0, 0], ["a", "b"])
    assert m["per_class"]["b"]["support"] == 0 and m["confusion_matrix"] == [[2, 0], [0, 0]]
    assert classification_metrics([], [], ["a", "b"]) == {"n": 0}


def test_balanced_accuracy_agrees_with_the_official_isic_scorer(tmp_path, isic_balanced_accuracy):
    classes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
    rng = np.random.default_rng(0)
    labels = rng.choice(8, size=120, p=[0.2, 0.4, 0.1, 0.05, 0.1, 0.05, 0.05, 0.05])
    logits = rng.normal(size=(120, 8)) + 1.5 * np.eye(8)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    images = [f"ISIC_{i:07d}" for i in range(120)]
    submission, truth = isic_tables(images, labels, probabilities, classes)
    assert list(submission.columns) == ["image"] + classes
    write_csv(submission, tmp_path / "submission.csv")
    write_csv(truth, tmp_path / "truth.csv")
    official = isic_balanced_accuracy(tmp_path / "truth.csv", tmp_path / "submission.csv")
    ours = classification_metrics(labels, probabilities.argmax(axis=1), classes)["balanced_accuracy"]
    assert 0.2 < ours < 0.95
    assert ours == pytest.approx(official, abs=1e-9)


def test_run_outputs_metrics_json_agrees_with_the_scorer_on_the_saved_submission(tmp_path, isic_balanced_accuracy):
    from samderm.io import read_json
    from samderm.train.outputs import finish_predictions, write_run_outputs

    tasks = {"skin": ["not_skin", "skin"], "lesion": ["MEL", "NV", "BCC"], "malignancy": ["benign", "malignant"]}
    rng = np.random.default_rng(3)
    labels = rng.choice(3, size=60)
    p = rng.dirichlet(np.ones(3), size=60) + 0.6 * np.eye(3)[labels]
    p /= p.sum(axis=1, keepdims=True)
    table = pd.DataFrame({"image_id": [f"ISIC_{i}" for i in range(60)], "task": "lesion",
                          "split": np.where(np.arange(60) < 40, "test", "val"),
                          "label": np.array(tasks["lesion"])[labels]})
    table[["p_MEL", "p_NV", "p_BCC"]] = p
    metrics = write_run_outputs(tmp_path, {"seed": 0}, finish_predictions(table, tasks), tasks)
    assert read_json(tmp_path / "metrics.json") == metrics
    official = isic_balanced_accuracy(tmp_path / "isic_ground_truth.csv", tmp_path / "isic_submission.csv")
    assert len(pd.read_csv(tmp_path / "isic_submission.csv")) == 40
    assert metrics["tasks"]["lesion"]["test"]["balanced_accuracy"] == pytest.approx(official, abs=1e-9)
    assert metrics["tasks"]["lesion"]["val"]["n"] == 20 and metrics["tasks"]["skin"]["test"] == {"n": 0}
