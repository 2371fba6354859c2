"""Intervals and claims with an experiment that holds out a lesion class: its lesion task predicts 7
classes on fewer test images, so it forms its own comparison set and is never paired with the others."""

import json
import logging

import numpy as np
import pandas as pd

from samderm.io import read_tsv, write_tsv
from samderm.matrix import Run
from samderm.report.aggregate import aggregate_runs
from samderm.report.claims import tabulate_claims
from samderm.report.intervals import bootstrap_intervals
from samderm.report.summaries import tabulate_classification

from .conftest import CLASSES, build_study, metrics_json

HELD_OUT = "DF"
MATRIX = {"experiments": ["exp1", "exp6", "exp1_open"], "losses": ["wce", "lmf"],
          "architectures": ["parallel", "multihead", "ensemble"], "crops": ["full"], "encoders": ["tiny"]}
REPORT = {"selection_metric": "macro_f1", "bootstrap": {"resamples": 300, "level": 0.95, "seed": 0},
          "claims": {"metrics": ["macro_f1"], "baselines": {"architecture": "multihead", "loss": "wce"}}}


def add_held_out_experiment(study):
    """exp1_open/wce/parallel, two seeds: exp1's predictions with the DF images out of the lesion task
    and the lesion probabilities renormalised over the other 7 classes."""
    rng = np.random.default_rng(1)
    kept = [c for c in CLASSES if c != HELD_OUT]
    for seed in (0, 1):
        run = Run("exp1_open", "wce", "parallel", "full", "tiny", "mean", 256, seed)
        run_dir = study.root / "runs" / run.path
        run_dir.mkdir(parents=True)
        metrics = metrics_json(run, rng)
        metrics["tasks"]["lesion"]["val"]["macro_f1"] = 0.999  # the best on val: only on its 7 classes
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        source = read_tsv(study.root / "runs" / Run("exp1", "wce", "parallel", "full", "tiny", "mean", 256, seed).path
                          / "predictions.tsv")
        lesion = source["task"] == "lesion"
        table = source[~(lesion & (source["label"] == HELD_OUT))].copy()
        lesion = table["task"] == "lesion"
        p = table.loc[lesion, [f"p_{c}" for c in kept]].astype(float).to_numpy()
        table.loc[lesion, [f"p_{c}" for c in kept]] = (p / p.sum(axis=1, keepdims=True)).astype(str)
        table.loc[lesion, "predicted"] = np.asarray(kept)[p.argmax(axis=1)]
        table.loc[lesion, f"p_{HELD_OUT}"] = ""
        write_tsv(table, run_dir / "predictions.tsv")
        study.run_dirs.append(run_dir)
    return study


def test_intervals_give_the_held_out_experiment_its_own_resamples(tmp_path):
    plain = build_study(tmp_path / "plain")
    before = bootstrap_intervals(plain.run_dirs, plain.data / "manifest.tsv", tmp_path / "a.tsv", 300, 0.95, 0)
    study = add_held_out_experiment(build_study(tmp_path / "open"))
    after = bootstrap_intervals(study.run_dirs, study.data / "manifest.tsv", tmp_path / "b.tsv", 300, 0.95, 0)
    # the other configurations keep exactly their intervals: their resamples are untouched
    pd.testing.assert_frame_equal(after[after["experiment"] != "exp1_open"].reset_index(drop=True), before)
    own = after[after["experiment"] == "exp1_open"].set_index(["task", "metric"])
    manifest, splits = read_tsv(study.data / "manifest.tsv"), read_tsv(study.data / "splits.tsv")
    test_lesions = manifest[manifest["image_id"].isin(splits.loc[splits["split"] == "test", "image_id"])
                            & (manifest["source"] == "lesion") & (manifest["status"] == "ok")]
    assert own.loc[("lesion", "accuracy"), "n_images"] == (test_lesions["lesion_class"] != HELD_OUT).sum()
    assert own.loc[("malignancy", "accuracy"), "n_images"] == len(test_lesions)  # other tasks: the same images
    assert own.loc[("lesion", "accuracy"), "n_seeds"] == 2


def test_claims_never_pair_a_held_out_lesion_task_with_another_experiment(tmp_path, caplog):
    study = add_held_out_experiment(build_study(tmp_path / "open"))
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    with caplog.at_level(logging.WARNING, logger="samderm.report.claims"):
        table = tabulate_claims(tmp_path / "runs.tsv", study.run_dirs, study.data / "manifest.tsv", tmp_path / "claims",
                                MATRIX, REPORT)
    open_rows = table[table["comparison"].str.startswith("exp1_open")]
    assert set(open_rows["task"]) == {"skin", "malignancy"}  # compared on the same images; lesion left out
    assert "no paired difference exists" in caplog.text and "exp1_open/wce/parallel" in caplog.text
    assert len(table[(table["factor"] == "experiment") & (table["task"] == "lesion")]) == 1  # exp6 vs exp1 still there


def test_the_best_lesion_model_is_never_a_held_out_experiment(tmp_path):
    study = add_held_out_experiment(build_study(tmp_path / "open"))
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    tabulate_classification(tmp_path / "runs.tsv", tmp_path / "all", "macro_f1")
    best = pd.read_csv(tmp_path / "all" / "best_models.csv").set_index("task")
    assert best.loc["lesion", "experiment"] == "exp1_open"  # what an unguarded selection picks
    tabulate_classification(tmp_path / "runs.tsv", tmp_path / "guarded", "macro_f1", held_out_experiments=["exp1_open"])
    best = pd.read_csv(tmp_path / "guarded" / "best_models.csv").set_index("task")
    assert best.loc["lesion", "experiment"] != "exp1_open"
