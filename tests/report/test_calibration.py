"""Calibration of every run from its predictions, the calibration table and the reliability diagrams."""

import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from samderm.io import read_tsv
from samderm.report.aggregate import aggregate_runs
from samderm.report.calibration import calibrate_runs
from samderm.report.reliability import reliability_figure
from tests.report.conftest import VAL_BEST


def test_each_run_gets_a_val_fitted_temperature_that_keeps_its_accuracy(study, tmp_path):
    calibration = calibrate_runs(study.run_dirs, tmp_path / "calibration_runs.tsv", tmp_path / "calibration", 10)
    accuracy = calibration[calibration["metric"] == "accuracy"]
    assert (accuracy["before"] == accuracy["after"]).all()
    assert len(calibration.drop_duplicates(["seed", "experiment", "loss", "architecture", "task"])) == 24 * 3
    # the temperature minimises the val NLL: check against a fine grid by hand on one run
    run_dir = study.run_dirs[5]
    rows = read_tsv(run_dir / "predictions.tsv")
    rows = rows[(rows["task"] == "malignancy") & (rows["split"] == "val")]
    p = rows[["p_benign", "p_malignant"]].to_numpy(dtype=float)
    y = (rows["label"] == "malignant").to_numpy().astype(int)
    grid = np.exp(np.linspace(-3, 3, 6001))
    logits = np.log(p)[None] / grid[:, None, None]
    log_softmax = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    nll = -log_softmax[:, np.arange(len(y)), y].mean(axis=1)
    run = run_dir.relative_to(study.root / "runs").parts
    mine = calibration[(calibration["experiment"] == run[0]) & (calibration["loss"] == run[1])
                       & (calibration["architecture"] == run[2]) & (calibration["seed"] == int(run[5][4:]))
                       & (calibration["task"] == "malignancy")]
    assert mine["temperature"].iloc[0] == pytest.approx(grid[nll.argmin()], rel=0.01)
    # and lowers the val NLL
    val_nll = mine[(mine["split"] == "val") & (mine["metric"] == "nll")].iloc[0]
    assert val_nll["after"] <= val_nll["before"]
    table = pd.read_csv(tmp_path / "calibration.csv")
    assert len(table) == 12 * 3 and {"temperature_mean", "ece_mass_before_mean", "brier_after_std"} <= set(table.columns)
    assert "ECE (width), after T" in (tmp_path / "calibration.md").read_text()


def test_reliability_diagrams_of_the_best_model_per_task(study, tmp_path):
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    calibrate_runs(study.run_dirs, tmp_path / "calibration_runs.tsv", tmp_path / "calibration", 10)
    reliability_figure(tmp_path / "runs.tsv", tmp_path / "calibration_runs.tsv", study.run_dirs, "macro_f1", 10,
                       tmp_path / "r.png", tmp_path / "r.svg")
    with Image.open(tmp_path / "r.png") as image:
        assert image.width > 900
    svg = (tmp_path / "r.svg").read_text()
    # the lesion model chosen on val (conftest VAL_BEST), with both curves of each panel
    assert "lesion: exp1 / lmf / parallel / full" in svg
    assert svg.count("before (ECE") == 3 and svg.count("after T (ECE") == 3
    # its seeds predict every val lesion right: no temperature fitted, and the title says so
    assert "T = 1.00 (val_error_free), 1.00 (val_error_free)" in svg


def test_error_free_val_keeps_t_1_with_its_reason_in_the_tables_and_a_warning(study, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="samderm.report.calibration"):
        calibrate_runs(study.run_dirs, tmp_path / "calibration_runs.tsv", tmp_path / "calibration", 10)
    runs = read_tsv(tmp_path / "calibration_runs.tsv")
    val_accuracy = runs[(runs["split"] == "val") & (runs["metric"] == "accuracy")]
    # every val prediction right (the conftest's perfect lesion runs, and some small skin/malignancy val sets):
    # NLL falls without end as T shrinks, so T = 1 is kept and scaling changes nothing
    error_free = val_accuracy["before"].astype(float) == 1.0
    assert error_free.sum() >= 2
    assert set(val_accuracy.loc[error_free, "temperature_status"]) == {"val_error_free"}
    assert set(val_accuracy.loc[~error_free, "temperature_status"]) == {"fitted"}
    kept = runs[runs["temperature_status"] == "val_error_free"]
    assert set(kept["temperature"].astype(float)) == {1.0}
    np.testing.assert_allclose(kept["after"].astype(float), kept["before"].astype(float), rtol=1e-9, atol=1e-9)
    perfect = (val_accuracy[["experiment", "loss", "architecture"]] == list(VAL_BEST)).all(axis=1) \
        & (val_accuracy["task"] == "lesion")
    assert error_free[perfect].all() and perfect.sum() == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == error_free.sum()
    for seed in (0, 1):
        assert any(f"{'/'.join(VAL_BEST)}/full/tiny-mean-r256/seed{seed}, task lesion" in m and "val_error_free" in m
                   for m in warned)
    table = pd.read_csv(tmp_path / "calibration.csv")
    mine = (table[["experiment", "loss", "architecture"]] == list(VAL_BEST)).all(axis=1) & (table["task"] == "lesion")
    assert table.loc[mine, "temperature_status"].tolist() == ["2 val_error_free"]
    assert "val_error_free" in (tmp_path / "calibration.md").read_text()
