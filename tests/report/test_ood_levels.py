"""The OOD tables split by difficulty level: ood_runs.tsv, ood_intervals.tsv and the detector table
have one row set per level (far, near) beside the pooled one (all)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from samderm.io import read_tsv, write_tsv
from samderm.report.aggregate import aggregate_ood, aggregate_runs, read_ood_runs
from samderm.report.ood_intervals import bootstrap_ood
from samderm.report.summaries import tabulate_ood

NEAR = {"ood_0", "ood_1", "ood_2"}  # the other OOD images are far


def with_levels(study):
    """scores.tsv with category levels, and metrics.tsv with a row set per level (values shifted per level)."""
    for ood_dir in study.ood_dirs:
        scores = read_tsv(ood_dir / "scores.tsv")
        ood = scores["in_distribution"] == "0"
        scores["ood_level"] = np.where(ood, np.where(scores["image_id"].isin(NEAR), "near", "far"), "")
        write_tsv(scores, ood_dir / "scores.tsv", "score convention: higher = more likely OOD")
        metrics = read_tsv(ood_dir / "metrics.tsv")
        levels = [metrics.assign(ood_level=level, value=metrics["value"].astype(float) - shift)
                  for level, shift in (("far", 0.0), ("near", 0.2), ("all", 0.1))]
        write_tsv(pd.concat(levels, ignore_index=True), ood_dir / "metrics.tsv", "OOD is the positive class")
    return study


def test_intervals_per_level_match_auroc_by_hand(study, tmp_path):
    with_levels(study)
    table = bootstrap_ood(study.ood_dirs, study.data / "manifest.tsv", tmp_path / "o.tsv", 200, 0.95, 0, "msp")
    one = table[(table["experiment"] == "exp1") & (table["loss"] == "wce") & (table["architecture"] == "parallel")
                & (table["head"] == "lesion") & (table["metric"] == "auroc")].set_index(["ood_level", "detector"])
    assert list(dict.fromkeys(one.index.get_level_values("ood_level"))) == ["far", "near", "all"]
    for level in ("far", "near", "all"):
        by_hand, n = [], 0
        for ood_dir in study.ood_dirs:
            if "exp1/wce/parallel/" in ood_dir.as_posix():
                scores = read_tsv(ood_dir / "scores.tsv")
                rows = scores[(scores["head"] == "lesion") & (scores["detector"] == "odin")]
                if level != "all":
                    rows = rows[rows["ood_level"].isin(["", level])]
                by_hand.append(roc_auc_score(rows["in_distribution"] == "0", rows["score"].astype(float)))
                n = len(rows)
        assert one.loc[(level, "odin"), "mean"] == pytest.approx(np.mean(by_hand)), level
        assert one.loc[(level, "odin"), "n_images"] == n
    assert one.loc[("near", "odin"), "n_images"] < one.loc[("all", "odin"), "n_images"]


def test_ood_runs_and_the_detector_table_keep_the_levels_apart(study, tmp_path):
    with_levels(study)
    aggregate_ood(study.ood_dirs, tmp_path / "ood_runs.tsv")
    assert set(read_ood_runs(tmp_path / "ood_runs.tsv")["ood_level"]) == {"far", "near", "all"}
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    bootstrap_ood(study.ood_dirs, study.data / "manifest.tsv", tmp_path / "ood_intervals.tsv", 100, 0.95, 0, "msp")
    tabulate_ood(tmp_path / "ood_runs.tsv", tmp_path / "runs.tsv", [d / "gate.tsv" for d in study.ood_dirs], tmp_path,
                 "macro_f1", tmp_path / "ood_intervals.tsv")
    table = pd.read_csv(tmp_path / "ood_detectors.csv")
    one = table[(table["experiment"] == "exp1") & (table["loss"] == "wce") & (table["architecture"] == "parallel")
                & (table["head"] == "lesion")]
    assert list(dict.fromkeys(one["ood_level"])) == ["far", "near", "all"]  # far first, pooled last
    # near AUROC was written 0.2 below far: each level is its own mean, compared with MSP of the same level
    by_level = one.set_index(["ood_level", "detector"])
    assert by_level.loc[("near", "odin"), "auroc_mean"] == pytest.approx(by_level.loc[("far", "odin"), "auroc_mean"] - 0.2)
    assert by_level.loc[("near", "msp"), "auroc_vs_msp"] == 0
    assert by_level.loc[("near", "odin"), "auroc_vs_msp"] == pytest.approx(
        by_level.loc[("near", "odin"), "auroc_mean"] - by_level.loc[("near", "msp"), "auroc_mean"])
    assert by_level["auroc_low"].notna().all()  # every level has its interval


def test_metrics_without_levels_read_as_pooled(study, tmp_path):
    aggregate_ood(study.ood_dirs, tmp_path / "ood_runs.tsv")
    assert set(read_ood_runs(tmp_path / "ood_runs.tsv")["ood_level"]) == {"all"}


def test_the_levels_figure_draws_every_level_of_every_experiment(study, tmp_path, caplog):
    import logging

    from samderm.report.figures import ood_levels_figure

    with_levels(study)
    aggregate_ood(study.ood_dirs, tmp_path / "ood_runs.tsv")
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    bootstrap_ood(study.ood_dirs, study.data / "manifest.tsv", tmp_path / "ood_intervals.tsv", 100, 0.95, 0, "msp")
    with caplog.at_level(logging.INFO, logger="samderm.report.figures"):
        ood_levels_figure(tmp_path / "runs.tsv", tmp_path / "ood_runs.tsv", tmp_path / "ood_intervals.tsv", "macro_f1",
                          tmp_path / "levels.png", tmp_path / "levels.svg")
    assert "2 experiments x 2 heads x 4 detectors" in caplog.text
    svg = (tmp_path / "levels.svg").read_text()
    assert all(level in svg for level in ("far", "near", "all")) and (tmp_path / "levels.png").stat().st_size > 10_000
