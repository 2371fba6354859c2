"""Bootstrap intervals of the OOD detectors' AUROC and of its paired difference to MSP."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from samderm.io import read_tsv
from samderm.report.aggregate import aggregate_ood, aggregate_runs
from samderm.report.ood_intervals import bootstrap_ood
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
