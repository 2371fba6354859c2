"""``samderm score`` end to end through main_score, and the demo's stand-in external model."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from samderm.io import read_tsv, write_tsv
from samderm.score.cli import add_score_parser
from samderm.score.demo import demo_external_predictions
from samderm.score.read import read_external

CSV = """filename,true_label,predicted_label,probability_class_0,probability_class_1,split
i1,1,1,0.2,0.8,test
i2,0,0,0.9,0.1,test
i3,1,0,0.6,0.4,test
i4,0,1,0.3,0.7,test
i5,1,1,0.1,0.9,val
i6,0,0,0.7,0.3,val
i7,0,0,0.8,0.2,train
"""


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="samderm")
    add_score_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["score", *argv])


def test_main_score_end_to_end(tmp_path, capsys):
    (tmp_path / "p.csv").write_text(CSV)
    args = _args(str(tmp_path / "p.csv"), "--classes", "benign,malignant", "--out", str(tmp_path / "out"),
                 "--resamples", "40")
    assert args.handler(args) == 0
    assert "7 rows read = 4 test + 2 val + 1 excluded" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    test = metrics["tasks"]["malignancy"]["test"]
    # 2 of 4 right; recall 1/2 each; F1 1/2 each; AUROC: positives 0.8, 0.4 vs negatives 0.1, 0.7 -> 3/4
    assert (test["accuracy"], test["balanced_accuracy"], test["macro_f1"], test["auroc"]) == pytest.approx(
        (0.5, 0.5, 0.5, 0.75))
    assert metrics["bootstrap"]["groups"] == "each image its own group"
    points = read_tsv(tmp_path / "out" / "operating_points.tsv")
    # val malignant scores 0.9 (positive) and 0.3: every target is met at the threshold 0.9, applied to test
    assert set(points["threshold"].astype(float)) == {0.9}
    assert set(points["test_sensitivity_value"].astype(float)) == {0.0}
    for name in ("intervals.tsv", "calibration.tsv", "class_auroc.tsv", "predictions.tsv"):
        assert (tmp_path / "out" / name).is_file()


def test_main_score_reports_a_bad_file(tmp_path, caplog):
    (tmp_path / "bad.csv").write_text(CSV.replace("i3,1,0,0.6,0.4", "i3,1,0,0.6,0.6"))
    args = _args(str(tmp_path / "bad.csv"), "--out", str(tmp_path / "out"))
    assert args.handler(args) == 2
    assert "bad.csv, line 4" in caplog.text and not (tmp_path / "out").exists()


def test_demo_external_predictions(tmp_path):
    classes = ["MEL", "NV", "BCC"]
    n = 60
    manifest = pd.DataFrame({"image_id": [f"img{i}" for i in range(n)], "source": "lesion", "status": "ok",
                             "lesion_class": [classes[i % 3] for i in range(n)]})
    manifest.loc[0, "source"] = "not_skin"
    splits = pd.DataFrame({"image_id": manifest["image_id"], "split": ["train", "val", "test"] * (n // 3)})
    write_tsv(manifest, tmp_path / "manifest.tsv")
    write_tsv(splits, tmp_path / "splits.tsv")
    table = demo_external_predictions(tmp_path / "splits.tsv", tmp_path / "manifest.tsv", tmp_path / "d.csv",
                                      classes, seed=0)
    again = demo_external_predictions(tmp_path / "splits.tsv", tmp_path / "manifest.tsv", tmp_path / "e.csv",
                                      classes, seed=0)
    assert (tmp_path / "d.csv").read_bytes() == (tmp_path / "e.csv").read_bytes()  # seeded
    assert set(table["split"]) == {"val", "test"} and len(table) == 40
    read = read_external(tmp_path / "d.csv", classes=classes)
    assert read.counts["val"] == 20 and read.counts["test"] == 20
    accuracy = (read.probabilities.argmax(axis=1) == read.labels).mean()
    assert 0.35 < accuracy < 0.95  # plausible: better than chance (1/3), not perfect
    assert len(again) == len(table)
