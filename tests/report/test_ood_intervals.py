"""Bootstrap intervals of the OOD detectors' AUROC and of its paired difference to MSP."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from samderm.io import read_tsv
from samderm.metrics.bootstrap import group_weights
from samderm.report.aggregate import aggregate_ood, aggregate_runs
from samderm.report.ood_intervals import bootstrap_ood
from samderm.report.predictions import image_groups
from samderm.report.summaries import tabulate_ood


def test_auroc_of_each_detector_and_its_paired_difference_to_msp(study, tmp_path):
    table = bootstrap_ood(study.ood_dirs, study.data / "manifest.tsv", tmp_path / "o.tsv", 300, 0.95, 0, "msp")
    one = table[(table["experiment"] == "exp1") & (table["loss"] == "wce") & (table["architecture"] == "parallel")
                & (table["head"] == "lesion")].set_index(["detector", "metric"])
    by_hand = []
    for ood_dir in study.ood_dirs:
        if "exp1/wce/parallel/" in ood_dir.as_posix():
            scores = read_tsv(ood_dir / "scores.tsv")
            rows = scores[(scores["head"] == "lesion") & (scores["detector"] == "odin")]
            by_hand.append(roc_auc_score(rows["in_distribution"] == "0", rows["score"].astype(float)))
    assert one.loc[("odin", "auroc"), "mean"] == pytest.approx(np.mean(by_hand))
    assert one.loc[("odin", "auroc"), "std"] == pytest.approx(np.std(by_hand, ddof=1))
    # the baseline against itself: exactly zero, zero width
    msp = one.loc[("msp", "auroc_vs_msp")]
    assert msp["mean"] == 0.0 and msp["low"] == 0.0 and msp["high"] == 0.0
    # mahalanobis separates far better (conftest): its paired difference excludes zero
    assert one.loc[("mahalanobis", "auroc_vs_msp"), "low"] > 0
    assert one.loc[("odin", "auroc"), "n_groups"] < one.loc[("odin", "auroc"), "n_images"]  # lesions of 2 images


def test_the_interval_is_the_percentile_of_the_seed_mean_auroc_over_resamples(study, tmp_path):
    table = bootstrap_ood(study.ood_dirs, study.data / "manifest.tsv", tmp_path / "o.tsv", 300, 0.95, 0, "msp")
    row = table[(table["experiment"] == "exp6") & (table["loss"] == "lmf") & (table["architecture"] == "multihead")
                & (table["head"] == "skin") & (table["ood_level"] == "all") & (table["detector"] == "odin")
                & (table["metric"] == "auroc")].iloc[0]
    seeds = []
    for ood_dir in study.ood_dirs:
        if "exp6/lmf/multihead/" in ood_dir.as_posix():
            scores = read_tsv(ood_dir / "scores.tsv")
            seeds.append(scores[(scores["head"] == "skin") & (scores["detector"] == "odin")].sort_values("image_id"))
    # lesion images resampled by lesion, the OOD images (no lesion) one by one
    weights = group_weights(image_groups(read_tsv(study.data / "manifest.tsv"), seeds[0]["image_id"].to_numpy()), 300, 0)
    # scikit-learn's AUROC with the resample's counts as sample weights, OOD positive
    per_seed = [[roc_auc_score(rows["in_distribution"] == "0", rows["score"].astype(float), sample_weight=w)
                 for w in weights] for rows in seeds]
    low, high = np.percentile(np.mean(per_seed, axis=0), [2.5, 97.5])
    assert (row["low"], row["high"]) == pytest.approx((low, high), abs=1e-12)
    # this example tells the right formula from the wrong ones: it fails the test when the code has them
    assert abs(2 * row["mean"] - high - low) > 1e-3  # basic interval: 2 mean - high, 2 mean - low
    assert abs(np.percentile(per_seed[0], 2.5) - low) > 1e-3  # the first seed alone


def test_ood_detector_table_shows_the_intervals(study, tmp_path):
    aggregate_ood(study.ood_dirs, tmp_path / "ood_runs.tsv")
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    bootstrap_ood(study.ood_dirs, study.data / "manifest.tsv", tmp_path / "ood_intervals.tsv", 100, 0.95, 0, "msp")
    tabulate_ood(tmp_path / "ood_runs.tsv", tmp_path / "runs.tsv", [d / "gate.tsv" for d in study.ood_dirs], tmp_path,
                 "macro_f1", tmp_path / "ood_intervals.tsv")
    table = pd.read_csv(tmp_path / "ood_detectors.csv")
    columns = list(table.columns)
    assert columns.index("auroc_low") == columns.index("auroc_std") + 2
    assert columns.index("auroc_vs_msp_value") == columns.index("auroc_vs_msp") + 1
    md = (tmp_path / "ood_detectors.md").read_text()
    assert "AUROC [interval]" in md and "auroc_vs_msp [interval]" in md and "excludes 0" in md
