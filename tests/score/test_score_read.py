"""Reading and scoring external predictions: a CSV written by hand gives hand-computed values; the ISIC format,
the class map, bad files (messages name file and line) and the exchange table's round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from samderm.io import read_tsv
from samderm.score.exchange import exchange_table
from samderm.score.read import PredictionsError, read_external
from samderm.score.score import score_file

# 3 classes A, B, C; lesions L1..L6. Confidences avoid the ECE bin edges (k/10).
HAND_CSV = """filename,true_label,predicted_label,probability_class_0,probability_class_1,probability_class_2,lesion
a1.jpg,0,0,0.72,0.18,0.10,L1
a2.jpg,0,0,0.64,0.26,0.10,L1
a3.jpg,0,1,0.22,0.46,0.32,L2
b1.jpg,1,1,0.06,0.88,0.06,L3
b2.jpg,1,1,0.37,0.53,0.10,L4
b3.jpg,1,2,0.28,0.33,0.39,L4
c1.jpg,2,2,0.08,0.14,0.78,L5
c2.jpg,2,1,0.24,0.52,0.24,L6
"""


@pytest.fixture
def hand_csv(tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text(HAND_CSV)
    return path


def test_hand_written_csv_gives_hand_computed_metrics(hand_csv, tmp_path):
    metrics = score_file(hand_csv, tmp_path / "out", classes=["A", "B", "C"], groups="lesion", n_resamples=50,
                         n_bins=10)
    test = metrics["tasks"]["external"]["test"]
    # confusion (rows truth A, B, C): [2 1 0], [0 2 1], [0 1 1]; 5 of 8 right
    assert test["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [0, 1, 1]]
    assert test["accuracy"] == pytest.approx(0.625)
    # recalls 2/3, 2/3, 1/2 -> 11/18
    assert test["balanced_accuracy"] == pytest.approx(0.6111111111)
    # F1 = 2TP/(support + predicted): A 4/5, B 4/7, C 2/4 -> mean 0.6238095
    assert test["macro_f1"] == pytest.approx(0.6238095238)
    # one-vs-rest AUROC by counting pairs: A 12/15, B 13/15, C 10/12 -> mean 0.8333
    assert test["auroc"] == pytest.approx(0.8333333333)
    calibration = test["calibration"]
    # NLL = -mean ln p(true) of 0.72 0.64 0.22 0.88 0.53 0.33 0.78 0.24 = 5.835869 / 8
    assert calibration["nll"] == pytest.approx(0.7294839, abs=1e-6)
    # ECE, 10 equal-width bins: (0.39 + 0.46 + 2*0.025 + 0.36 + 2*0.25 + 0.12) / 8
    assert calibration["ece_width"] == pytest.approx(0.235)
    # Brier: row sums of squared errors add to 3.2992
    assert calibration["brier"] == pytest.approx(0.4124)
    intervals = read_tsv(tmp_path / "out" / "intervals.tsv").set_index("metric")
    assert float(intervals.loc["accuracy", "value"]) == pytest.approx(0.625)
    assert intervals.loc["accuracy", "n_groups"] == "6"
    assert (intervals["groups"] == "the file's group column").all()
    auroc = read_tsv(tmp_path / "out" / "class_auroc.tsv").set_index("target")
    assert auroc["auroc_value"].astype(float).tolist() == pytest.approx([0.8, 13 / 15, 10 / 12])
    # no split column: no val rows, so operating points are header only and the reason is recorded
    assert read_tsv(tmp_path / "out" / "operating_points.tsv").empty
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "no val rows" in saved["operating_points"]["left_out"][0]
    assert saved["source"]["counts"] == {"read": 8, "test": 8, "val": 0, "excluded_class": 0, "excluded_split": 0,
                                         "excluded": 0}


def test_labels_by_name_and_split_column(tmp_path):
    lines = HAND_CSV.splitlines()
    header = lines[0] + ",split"
    rows = [line + f",{'val' if i % 2 else 'test'}" for i, line in enumerate(lines[1:])]
    path = tmp_path / "split.csv"
    path.write_text("\n".join([header, *rows, "t1.jpg,A,0,0.9,0.05,0.05,L9,train"]) + "\n")
    read = read_external(path, classes=["A", "B", "C"])
    assert read.counts == {"read": 9, "test": 4, "val": 4, "excluded_class": 0, "excluded_split": 1, "excluded": 1}
    assert list(read.image_ids[read.rows("test")]) == ["a1.jpg", "a3.jpg", "b2.jpg", "c1.jpg"]


def test_val_rows_give_operating_points(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    labels = np.tile([0, 1], n // 2)
    p1 = np.clip(0.3 + 0.4 * labels + rng.normal(0, 0.2, n), 0.01, 0.99)
    table = pd.DataFrame({"filename": [f"i{i}" for i in range(n)], "true_label": labels,
                          "predicted_label": (p1 > 0.5).astype(int), "probability_class_0": 1 - p1,
                          "probability_class_1": p1, "split": np.where(np.arange(n) < n // 2, "val", "test")})
    table.to_csv(tmp_path / "bin.csv", index=False)
    metrics = score_file(tmp_path / "bin.csv", tmp_path / "out", classes=["benign", "malignant"], n_resamples=30)
    assert list(metrics["tasks"]) == ["malignancy"]
    assert set(metrics["tasks"]["malignancy"]) == {"classes", "val", "test"}
    points = read_tsv(tmp_path / "out" / "operating_points.tsv")
    assert len(points) == 4 and set(points["target"]) == {"malignant"}
    assert metrics["operating_points"]["left_out"] == []


def test_isic_format_with_ground_truth(tmp_path):
    classes = ["MEL", "NV", "BCC"]
    submission = pd.DataFrame({"image": ["ISIC_1", "ISIC_2", "ISIC_3"], "MEL": [0.7, 0.1, 0.2],
                               "NV": [0.2, 0.8, 0.2], "BCC": [0.1, 0.1, 0.6], "UNK": [0.0, 0.0, 0.0]})
    truth = pd.DataFrame({"image": ["ISIC_3", "ISIC_2", "ISIC_1"], "MEL": [0, 0, 1], "NV": [1, 1, 0],
                          "BCC": [0, 0, 0], "UNK": [0, 0, 0]})
    submission.to_csv(tmp_path / "sub.csv", index=False)
    truth.to_csv(tmp_path / "gt.csv", index=False)
    read = read_external(tmp_path / "sub.csv", ground_truth=tmp_path / "gt.csv")
    assert read.format == "isic" and read.classes == ["MEL", "NV", "BCC", "UNK"]
    assert read.labels.tolist() == [0, 1, 1]  # truth looked up by image, not by row order
    # the official format's UNK column, all zero, dropped by the class map
    mapped = read_external(tmp_path / "sub.csv", ground_truth=tmp_path / "gt.csv", class_map={"UNK": None, "MEL": "MEL",
                                                                                             "NV": "NV", "BCC": "BCC"})
    assert mapped.classes == classes and mapped.probabilities.shape == (3, 3)
    with pytest.raises(PredictionsError, match="ground-truth"):
        read_external(tmp_path / "sub.csv")
    truth.iloc[:2].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(PredictionsError, match=r"sub\.csv, line 2, column 'image'.*ISIC_1"):
        read_external(tmp_path / "sub.csv", ground_truth=tmp_path / "short.csv")
    truth.assign(NV=[1, 1, 1]).to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(PredictionsError, match=r"two\.csv, line 4: the truth must be one-hot"):
        read_external(tmp_path / "sub.csv", ground_truth=tmp_path / "two.csv")


def test_class_map_merges_drops_and_renormalises(hand_csv, tmp_path):
    class_map = tmp_path / "map.yaml"
    class_map.write_text("0: X\n1: X\nC: null\n")  # indices or names; C dropped
    read = read_external(hand_csv, classes=["A", "B", "C"], class_map=class_map, group_column="lesion")
    assert read.classes == ["X"]
    assert read.counts["excluded_class"] == 2 and read.counts["test"] == 6
    assert read.counts["read"] == read.counts["test"] + read.counts["val"] + read.counts["excluded"]
    np.testing.assert_allclose(read.probabilities, 1.0)  # (A + B) / (A + B) after dropping C
    assert list(read.groups) == ["L1", "L1", "L2", "L3", "L4", "L4"]
    two = read_external(hand_csv, classes=["A", "B", "C"], class_map={"A": "A", "B": "BC", "C": "BC"})
    assert two.classes == ["A", "BC"] and two.labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    np.testing.assert_allclose(two.probabilities[0], [0.72, 0.28])
    with pytest.raises(PredictionsError, match="no entry for the file's class 'C'"):
        read_external(hand_csv, classes=["A", "B", "C"], class_map={"A": "A", "B": "B"})


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.drop(columns="true_label"), r"bad\.csv: missing column\(s\) \['true_label'\]"),
    (lambda t: t.assign(probability_class_0=t["probability_class_0"].where(t.index != 2, 0.3)),
     r"bad\.csv, line 4: the probabilities .* sum to 1\.08"),
    (lambda t: t.assign(true_label=t["true_label"].where(t.index != 5, "D")),
     r"bad\.csv, line 7, column 'true_label': unknown label 'D'"),
    (lambda t: t.assign(probability_class_1=t["probability_class_1"].where(t.index != 0, "x")),
     r"bad\.csv, line 2, column 'probability_class_1': 'x' is not a probability"),
    (lambda t: t.assign(filename=t["filename"].where(t.index != 4, "a1.jpg")),
     r"bad\.csv, line 6, column 'filename': image 'a1.jpg' is listed twice .*line 2"),
])
def test_bad_csv_names_file_and_line(hand_csv, tmp_path, edit, message):
    table = pd.read_csv(hand_csv, dtype=str)
    edit(table).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(PredictionsError, match=message):
        read_external(tmp_path / "bad.csv", classes=["A", "B", "C"])


def test_probabilities_within_tolerance_are_accepted(hand_csv, tmp_path):
    table = pd.read_csv(hand_csv)
    table.loc[0, "probability_class_0"] = 0.7205  # sums to 1.0005
    table.to_csv(tmp_path / "near.csv", index=False)
    assert read_external(tmp_path / "near.csv").counts["test"] == 8


def test_exchange_table_round_trips_through_the_reader(tmp_path):
    classes = ["MEL", "NV", "BCC"]
    run_rows = pd.DataFrame({"image_id": ["ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4"], "split": "test", "task": "lesion",
                             "label": ["NV", "MEL", "BCC", "NV"], "predicted": ["NV", "NV", "BCC", "MEL"],
                             "p_MEL": [0.1, 0.3, 0.2, 0.5], "p_NV": [0.8, 0.6, 0.1, 0.3],
                             "p_BCC": [0.1, 0.1, 0.7, 0.2]})
    table = exchange_table(run_rows, classes)
    assert list(table.columns) == ["filename", "true_label", "predicted_label", "probability_class_0",
                                   "probability_class_1", "probability_class_2"]
    assert table["true_label"].tolist() == [1, 0, 2, 1] and table["predicted_label"].tolist() == [1, 1, 2, 0]
    table.to_csv(tmp_path / "exchange.csv", index=False)
    read = read_external(tmp_path / "exchange.csv", classes=classes)
    assert read.format == "panderm" and read.classes == classes
    assert read.image_ids.tolist() == run_rows["image_id"].tolist()
    assert [classes[k] for k in read.labels] == run_rows["label"].tolist()
    np.testing.assert_allclose(read.probabilities, run_rows[["p_MEL", "p_NV", "p_BCC"]].to_numpy())
    with pytest.raises(ValueError, match="UNK"):
        exchange_table(run_rows.assign(label="UNK"), classes)
