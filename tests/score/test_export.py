"""Every run's test predictions in PanDerm's schema below results/exchange/, readable by `samderm score`."""

from __future__ import annotations

import pandas as pd
import pytest

from samderm.io import write_tsv
from samderm.score.export import export_predictions
from samderm.score.read import read_external

RUN = "exp1/none/linear_probe/full/tiny-mean-r256/seed0"


def _predictions(tmp_path):
    rows = [
        ("i1", "test", "lesion", "MEL", "MEL", 0.7, 0.2, 0.1, "", ""),
        ("i2", "test", "lesion", "NV", "BCC", 0.1, 0.3, 0.6, "", ""),
        ("i3", "val", "lesion", "NV", "NV", 0.1, 0.8, 0.1, "", ""),
        ("i1", "test", "malignancy", "malignant", "benign", "", "", "", 0.6, 0.4),
        ("i2", "test", "malignancy", "benign", "benign", "", "", "", 0.9, 0.1),
    ]
    table = pd.DataFrame(rows, columns=["image_id", "split", "task", "label", "predicted", "p_MEL", "p_NV", "p_BCC",
                                        "p_benign", "p_malignant"])
    path = tmp_path / "results" / "runs" / RUN / "predictions.tsv"
    path.parent.mkdir(parents=True)
    write_tsv(table, path)
    return path


def test_each_task_of_each_run_gets_its_test_rows_in_panderm_schema(tmp_path):
    out = tmp_path / "exchange"
    assert export_predictions([_predictions(tmp_path)], out) == 2
    lesion = pd.read_csv(out / RUN / "lesion.csv")
    assert list(lesion.columns) == ["filename", "true_label", "predicted_label", "probability_class_0",
                                    "probability_class_1", "probability_class_2"]
    assert lesion.values.tolist() == [["i1", 0, 0, 0.7, 0.2, 0.1], ["i2", 1, 2, 0.1, 0.3, 0.6]]  # val left out
    assert (out / RUN / "lesion.classes.txt").read_text().split() == ["MEL", "NV", "BCC"]
    scored = read_external(out / RUN / "malignancy.csv", classes=["benign", "malignant"])
    assert list(scored.labels) == [1, 0]


def test_a_predictions_file_outside_a_run_directory_is_named(tmp_path):
    path = tmp_path / "predictions.tsv"
    path.write_text("image_id\tsplit\ttask\tlabel\tpredicted\n")
    with pytest.raises(ValueError, match="not a run directory"):
        export_predictions([path], tmp_path / "out")
