"""The ISIC 2019 submission with and without the UNK column of the official test format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from samderm.metrics import classification_metrics, isic_tables, write_csv
from samderm.train.outputs import finish_predictions, write_run_outputs

EIGHT = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]


def predictions(classes: list[str], n: int, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(classes)
    logits = rng.normal(size=(n, len(classes))) + 2.0 * np.eye(len(classes))[labels]
    return [f"ISIC_{i:07d}" for i in range(n)], labels, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_without_unk_column_the_columns_are_the_head_classes():
    images, labels, p = predictions(EIGHT, 16)
    submission, truth = isic_tables(images, labels, p, EIGHT)
    assert list(submission.columns) == list(truth.columns) == ["image"] + EIGHT


def test_unk_column_adds_a_zero_unk_column_after_the_eight_classes():
    images, labels, p = predictions(EIGHT, 16)
    submission, truth = isic_tables(images, labels, p, EIGHT, unk_column=True)
    assert list(submission.columns) == list(truth.columns) == ["image"] + EIGHT + ["UNK"]
    assert (submission["UNK"] == 0).all() and (truth["UNK"] == 0).all()
    assert submission[EIGHT].to_numpy() == pytest.approx(p)
    assert truth[EIGHT].to_numpy().argmax(axis=1).tolist() == labels.tolist()


@pytest.mark.parametrize("unk_column", [False, True])
def test_a_head_with_unk_writes_its_own_unk_output_and_the_official_scorer_agrees(tmp_path, isic_balanced_accuracy,
                                                                                 unk_column):
    classes = EIGHT + ["UNK"]
    images, labels, p = predictions(classes, 45, seed=1)
    submission, truth = isic_tables(images, labels, p, classes, unk_column=unk_column)
    assert list(submission.columns) == ["image"] + classes
    assert submission["UNK"].to_numpy() == pytest.approx(p[:, 8])
    write_csv(submission, tmp_path / "submission.csv")
    write_csv(truth, tmp_path / "truth.csv")
    official = isic_balanced_accuracy(tmp_path / "truth.csv", tmp_path / "submission.csv")
    assert classification_metrics(labels, p.argmax(axis=1), classes)["balanced_accuracy"] == pytest.approx(official, abs=1e-9)


def test_run_outputs_write_the_unk_column_when_asked(tmp_path):
    tasks = {"lesion": ["MEL", "NV"]}
    table = pd.DataFrame({"image_id": ["a", "b", "c"], "task": "lesion", "split": "test", "label": ["MEL", "NV", "NV"],
                          "p_MEL": [0.9, 0.2, 0.4], "p_NV": [0.1, 0.8, 0.6]})
    write_run_outputs(tmp_path / "plain", {"seed": 0}, finish_predictions(table, tasks), tasks)
    write_run_outputs(tmp_path / "unk", {"seed": 0}, finish_predictions(table, tasks), tasks, unk_column=True)
    assert list(pd.read_csv(tmp_path / "plain" / "isic_submission.csv").columns) == ["image", "MEL", "NV"]
    for name in ("isic_submission.csv", "isic_ground_truth.csv"):
        written = pd.read_csv(tmp_path / "unk" / name)
        assert list(written.columns) == ["image", "MEL", "NV", "UNK"] and (written["UNK"] == 0).all()
