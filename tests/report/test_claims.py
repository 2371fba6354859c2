"""The claims table: paired bootstrap differences between named configurations."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from samderm.io import read_tsv
from samderm.metrics.bootstrap import METRICS
from samderm.report.aggregate import ResultsError, aggregate_runs, read_runs
from samderm.report.claims import baseline_levels, claim_pairs, paired_difference, tabulate_claims
from samderm.report.intervals import bootstrap_configurations

MATRIX = {"experiments": ["exp1", "exp6"], "losses": ["wce", "lmf"], "architectures": ["parallel", "multihead", "ensemble"],
          "crops": ["full"], "encoders": ["tiny"]}
REPORT = {"selection_metric": "macro_f1", "bootstrap": {"resamples": 400, "level": 0.95, "seed": 0},
          "claims": {"metrics": ["macro_f1", "balanced_accuracy"], "baselines": {"architecture": "multihead", "loss": "wce"}}}


def test_a_configuration_against_itself_differs_by_exactly_zero(study):
    distributions, _ = bootstrap_configurations(study.run_dirs, study.data / "manifest.tsv", 300, 0)
    for dist in list(distributions.values())[:6]:
        for metric in METRICS:
            assert paired_difference(dist, dist, metric, 0.95) == (0.0, 0.0, 0.0)


def test_pairs_compare_each_level_with_its_baseline_at_their_best(study, tmp_path):
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    levels = baseline_levels(MATRIX, REPORT["claims"]["baselines"])
    # crop and encoder have one level: nothing to compare; experiment's baseline is the first
    assert levels == {"architecture": ("multihead", ["parallel", "ensemble"]), "loss": ("wce", ["lmf"]),
                      "experiment": ("exp1", ["exp6"])}
    pairs = claim_pairs(read_runs(tmp_path / "runs.tsv"), levels, "macro_f1")
    counts = pairs["factor"].value_counts().to_dict()
    assert counts == {"architecture": 2 * 3 * 2, "loss": 2 * 3, "experiment": 3}
    for pair in pairs.itertuples():
        index = {"architecture": 2, "loss": 1, "experiment": 0}[pair.factor]
        assert pair.a[index] == pair.level and pair.b[index] == pair.baseline
        assert pair.experiment == ("all" if pair.factor == "experiment" else pair.a[0]) == \
            ("all" if pair.factor == "experiment" else pair.b[0])


def test_a_clear_difference_excludes_zero_and_an_unclear_one_does_not(study, tmp_path):
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    table = tabulate_claims(tmp_path / "runs.tsv", study.run_dirs, study.data / "manifest.tsv", tmp_path / "claims",
                            MATRIX, REPORT)
    # lesion, exp1: lmf is the val-best (parallel) and predicts every test lesion right (conftest)
    row = table[(table["factor"] == "loss") & (table["experiment"] == "exp1") & (table["task"] == "lesion")
                & (table["metric"] == "macro_f1")].iloc[0]
    assert row["a"].startswith("exp1/lmf/parallel/") and row["excludes_zero"] and row["difference_low"] > 0
    assert row["reading"] == "lmf higher"
    # the difference is that of the seed means of scikit-learn's macro-F1 on the test predictions
    b = row["b"].split("/")
    means = []
    for config in (["exp1", "lmf", "parallel"], b[:3]):
        scores = []
        for run_dir in study.run_dirs:
            if run_dir.relative_to(study.root / "runs").parts[:3] == tuple(config):
                rows = read_tsv(run_dir / "predictions.tsv")
                rows = rows[(rows["task"] == "lesion") & (rows["split"] == "test")]
                scores.append(f1_score(rows["label"], rows["predicted"], average="macro", zero_division=0))
        means.append(np.mean(scores))
    assert row["difference_value"] == pytest.approx(means[0] - means[1])
    unclear = table[~table["excludes_zero"]]
    assert len(unclear) and (unclear["reading"] == "no difference shown").all()
    assert ((unclear["difference_low"] <= 0) & (unclear["difference_high"] >= 0)).all()
    shown = (tmp_path / "claims.md").read_text()
    assert "difference [interval]" in shown and "lmf higher" in shown
    again = tabulate_claims(tmp_path / "runs.tsv", study.run_dirs, study.data / "manifest.tsv", tmp_path / "again",
                            MATRIX, REPORT)
    pd.testing.assert_frame_equal(table, again)


def test_a_baseline_outside_the_matrix_and_an_unknown_metric_are_named(study, tmp_path):
    with pytest.raises(ResultsError, match=r"report.claims.baselines.loss: 'focal' is not in matrix.losses"):
        baseline_levels(MATRIX, {"loss": "focal"})
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    bad = {**REPORT, "claims": {**REPORT["claims"], "metrics": ["f2"]}}
    with pytest.raises(ResultsError, match="report.claims.metrics"):
        tabulate_claims(tmp_path / "runs.tsv", study.run_dirs, study.data / "manifest.tsv", tmp_path / "c", MATRIX, bad)
