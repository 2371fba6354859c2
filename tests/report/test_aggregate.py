import json

import numpy as np
import pandas as pd
import pytest

from samderm.io import read_json
from samderm.report.aggregate import (TIDY_COLUMNS, ResultsError, aggregate_ood, aggregate_runs, read_ood_runs,
                                      read_runs)


def test_runs_table_agrees_with_every_metrics_json(study, tmp_path):
    tidy = aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    back = read_runs(tmp_path / "runs.tsv")
    assert list(back.columns) == TIDY_COLUMNS
    assert back.drop_duplicates(["experiment", "loss", "architecture", "seed"]).shape[0] == len(study.run_dirs)
    for run_dir in study.run_dirs:
        metrics = read_json(run_dir / "metrics.json")
        run = metrics["run"]
        rows = back[(back["experiment"] == run["experiment"]) & (back["loss"] == run["loss"])
                    & (back["architecture"] == run["architecture"]) & (back["seed"] == run["seed"])]
        values = {(r.task, r.split, r.metric): r.value for r in rows.itertuples()}
        for task, splits in metrics["tasks"].items():
            for split in ("train", "val", "test"):
                for metric in ("accuracy", "balanced_accuracy", "macro_f1", "n"):
                    assert values.pop((task, split, metric)) == pytest.approx(splits[split][metric])
                for cls, scores in splits[split]["per_class"].items():
                    for score, value in scores.items():
                        assert values.pop((task, split, f"{score}:{cls}")) == pytest.approx(value)
                confusion = np.asarray(splits[split]["confusion_matrix"])
                predicted_share = confusion.sum(axis=0).max() / confusion.sum()
                assert values.pop((task, split, "top_class_share")) == pytest.approx(predicted_share)
                assert values.pop((task, split, "collapsed")) == float(predicted_share > 0.9)
        assert not values, f"rows with no counterpart in metrics.json: {list(values)[:3]}"
    assert len(tidy) == len(back)


def test_a_metrics_json_in_the_wrong_directory_is_named(study, tmp_path):
    path = study.run_dirs[0] / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["run"]["loss"] = "focal"
    path.write_text(json.dumps(metrics))
    with pytest.raises(ResultsError, match=f"{path}.*not the directory"):
        aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")


def test_a_missing_test_split_and_a_non_number_are_named(study, tmp_path):
    path = study.run_dirs[1] / "metrics.json"
    metrics = json.loads(path.read_text())
    del metrics["tasks"]["skin"]["test"]
    path.write_text(json.dumps(metrics))
    with pytest.raises(ResultsError, match="skin.*'test'"):
        aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    metrics = json.loads((study.run_dirs[2] / "metrics.json").read_text())
    metrics["tasks"]["lesion"]["val"]["macro_f1"] = "high"
    (study.run_dirs[1] / "metrics.json").unlink()
    (study.run_dirs[2] / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ResultsError, match=r"tasks\.lesion\.val\.macro_f1"):
        aggregate_runs(study.run_dirs[2:], tmp_path / "runs.tsv")


def test_ood_table_keeps_every_metric_row_keyed_by_its_run(study, tmp_path):
    aggregate_ood(study.ood_dirs, tmp_path / "ood.tsv")
    assert (tmp_path / "ood.tsv").read_text().startswith("# OOD is the positive class")
    tidy = read_ood_runs(tmp_path / "ood.tsv")
    one = pd.read_csv(study.ood_dirs[3] / "metrics.tsv", sep="\t", comment="#")
    assert len(tidy) == len(one) * len(study.ood_dirs)
    run = study.ood_dirs[3].relative_to(study.root / "ood").parts
    rows = tidy[(tidy["experiment"] == run[0]) & (tidy["loss"] == run[1]) & (tidy["architecture"] == run[2])
                & (tidy["seed"] == int(run[5][4:]))]
    merged = rows.merge(one, on=["head", "detector", "metric"], suffixes=("", "_file"))
    assert len(merged) == len(one)
    assert (merged["value"] == merged["value_file"]).all()
    assert set(tidy["protocol"]) == {"held_out_categories"}  # which OOD images tuned and tested


def test_ood_metrics_without_a_protocol_read_as_unrecorded(study, tmp_path):
    path = study.ood_dirs[0] / "metrics.tsv"
    table = pd.read_csv(path, sep="\t", comment="#").drop(columns="protocol")
    table.to_csv(path, sep="\t", index=False)
    aggregate_ood(study.ood_dirs[:1], tmp_path / "ood.tsv")
    assert set(read_ood_runs(tmp_path / "ood.tsv")["protocol"]) == {"unrecorded"}


def test_an_unknown_ood_metric_is_named(study, tmp_path):
    path = study.ood_dirs[0] / "metrics.tsv"
    path.write_text(path.read_text().replace("\tauroc\t", "\tauc\t"))
    with pytest.raises(ResultsError, match=f"{path}.*'auc'"):
        aggregate_ood(study.ood_dirs, tmp_path / "ood.tsv")


def test_a_collapsed_run_is_flagged_and_a_healthy_one_is_not(tmp_path):
    from samderm.report.aggregate import collapse_rows

    settings = {"max_share": 0.9, "chance_margin": 0.02}
    # MedMNIST+'s case: 67 of 100 test lesions are nevi and every one is called a nevus
    everything_nevus = [[0, 10, 0], [0, 67, 0], [0, 23, 0]]
    assert collapse_rows(everything_nevus, "run", settings) == [("collapsed", 1.0), ("top_class_share", 1.0)]
    # 89 of 100 predictions in one class, balanced accuracy (1 + 0.9 + 0.5) / 3 = 0.8: healthy
    healthy = [[1, 0, 0], [9, 81, 0], [0, 4, 5]]
    assert collapse_rows(healthy, "run", settings) == [("collapsed", 0.0), ("top_class_share", 0.85)]
    # balanced accuracy (0.52 + 0.30 + 0.21) / 3 = 0.3433 lies within 0.02 of 1/3, though no class dominates
    near_chance = [[52, 28, 20], [40, 30, 30], [40, 39, 21]]
    assert collapse_rows(near_chance, "run", settings)[0] == ("collapsed", 1.0)
    assert collapse_rows(near_chance, "run", {"chance_margin": 0.005})[0] == ("collapsed", 0.0)
    with pytest.raises(ResultsError, match="runs/x: expected a square confusion matrix"):
        collapse_rows([[1, 2, 3]], "runs/x", settings)
