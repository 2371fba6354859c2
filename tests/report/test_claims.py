"""The claims table: paired bootstrap differences between named configurations."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from samderm.io import read_tsv, write_tsv
from samderm.metrics.bootstrap import METRICS, group_weights
from samderm.report.aggregate import ResultsError, aggregate_runs, read_runs
from samderm.report.claims import (baseline_levels, claim_pairs, claims_table, holm_adjusted, paired_difference,
                                   tabulate_claims)
from samderm.report.intervals import bootstrap_configurations, config_of

MATRIX = {"experiments": ["exp1", "exp6"], "losses": ["wce", "lmf"], "architectures": ["parallel", "multihead", "ensemble"],
          "crops": ["full"], "encoders": ["tiny"]}
REPORT = {"selection_metric": "macro_f1", "bootstrap": {"resamples": 400, "level": 0.95, "seed": 0},
          "claims": {"metrics": ["macro_f1", "balanced_accuracy"], "baselines": {"architecture": "multihead", "loss": "wce"}}}


def test_a_configuration_against_itself_differs_by_exactly_zero(study):
    distributions, _ = bootstrap_configurations(study.run_dirs, study.data / "manifest.tsv", 300, 0)
    for dist in list(distributions.values())[:6]:
        for metric in METRICS:
            assert paired_difference(dist, dist, metric, 0.95) == (0.0, 0.0, 0.0, 1.0)


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
    # every row is one test of the family: Holm over all of them, never more significant than unadjusted
    assert table["p_holm"].tolist() == pytest.approx(holm_adjusted(table["p_value"]).tolist(), nan_ok=True)
    assert (table["holm_significant"] == (table["p_holm"] <= 0.05)).all()
    assert not (table["holm_significant"] & ~(table["p_value"] <= 0.05)).any()
    assert (~table["holm_significant"] & (table["p_value"] <= 0.05)).any()  # here Holm keeps fewer
    assert f"The table holds {len(table)} comparisons" in (tmp_path / "claims.md").read_text()
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


def test_holm_steps_down_as_the_textbook_does():
    # m = 4, alpha = 0.05; sorted p: 0.01 <= 0.05/4 reject; 0.015 <= 0.05/3 reject (Bonferroni, 0.05/4, would
    # not); 0.03 > 0.05/2 stop, so 0.032 is kept although it is below 0.05/1
    p = [0.032, 0.01, 0.015, 0.03]
    # adjusted, in sorted order: 4 x 0.01, 3 x 0.015, 2 x 0.03, max(0.06, 1 x 0.032)
    assert holm_adjusted(p) == pytest.approx([0.06, 0.04, 0.045, 0.06])
    assert (holm_adjusted(p) <= 0.05).tolist() == [False, True, True, False]
    adjusted = holm_adjusted([0.2, np.nan, 0.001])  # an undefined p counts in m and is never significant
    assert adjusted[[0, 2]] == pytest.approx([0.4, 0.003]) and np.isnan(adjusted[1])


def test_holm_decides_as_the_textbook_loop_on_random_families():
    rng = np.random.default_rng(0)
    for m in (1, 5, 40):
        p = rng.uniform(0, 0.03, m) ** rng.uniform(0.5, 2, m)
        rejected = np.zeros(m, bool)
        for k, i in enumerate(np.argsort(p)):  # reject while p_(k) <= alpha / (m - k), then stop
            if p[i] > 0.05 / (m - k):
                break
            rejected[i] = True
        assert ((holm_adjusted(p) <= 0.05) == rejected).all()


def _write_twin_runs(root, correct: dict[tuple[str, int], np.ndarray], lesion_of: np.ndarray) -> list:
    """Run dirs of (loss, seed) whose skin test predictions are right exactly where ``correct`` says."""
    ids = np.array([f"img_{i:03d}" for i in range(len(lesion_of))])  # sorted as the bootstrap sorts them
    truth = np.where(np.arange(len(ids)) % 2 == 0, "skin", "not_skin")
    write_tsv(pd.DataFrame({"image_id": ids, "lesion_id": lesion_of}), root / "manifest.tsv")
    run_dirs = []
    for (loss, seed), right in correct.items():
        predicted = np.where(right, truth, np.where(truth == "skin", "not_skin", "skin"))
        p_skin = np.where(predicted == "skin", 0.8, 0.2)
        run_dir = root / "runs" / "exp1" / loss / "parallel" / "full" / "tiny-mean-r256" / f"seed{seed}"
        run_dir.mkdir(parents=True)
        write_tsv(pd.DataFrame({"image_id": ids, "split": "test", "task": "skin", "label": truth, "predicted": predicted,
                                "p_not_skin": 1 - p_skin, "p_skin": p_skin}), run_dir / "predictions.tsv")
        run_dirs.append(run_dir)
    return run_dirs


def test_the_claims_interval_is_the_percentile_of_paired_seed_mean_differences(tmp_path):
    # 200 images of 100 lesions; a is right wherever b is, and on 10 (seed 0) or 16 (seed 1) lesions more,
    # so a - b is above zero in every resample drawing one of them, while a and b alone vary a lot
    rng = np.random.default_rng(1)
    lesion_of = np.array([f"L{i // 2:03d}" for i in range(200)])
    b0 = rng.random(200) < 0.6
    b1 = b0 ^ (rng.random(200) < 0.1)  # the second seed differs from the first
    extra = np.flatnonzero(~b0 & ~b1)[::2][:16]  # images of 16 lesions that both seeds of b get wrong
    assert len(set(lesion_of[extra])) == 16
    a0, a1 = b0.copy(), b1.copy()
    a0[extra[:10]], a1[extra] = True, True
    runs = _write_twin_runs(tmp_path, {("lmf", 0): a0, ("lmf", 1): a1, ("wce", 0): b0, ("wce", 1): b1}, lesion_of)
    distributions, _ = bootstrap_configurations(runs, tmp_path / "manifest.tsv", 2000, 0)
    pairs = pd.DataFrame([{"factor": "loss", "level": "lmf", "baseline": "wce", "experiment": "exp1", "task": "skin",
                           "a": config_of(runs[0]), "b": config_of(runs[2])}])
    row = claims_table(pairs, distributions, ["accuracy"], 0.95).iloc[0]

    weights = group_weights(lesion_of, 2000, 0)
    accuracy = {name: weights @ right / weights.sum(axis=1) for name, right in
                (("a0", a0), ("a1", a1), ("b0", b0), ("b1", b1))}
    paired = (accuracy["a0"] + accuracy["a1"]) / 2 - (accuracy["b0"] + accuracy["b1"]) / 2
    low, high = np.percentile(paired, [2.5, 97.5])
    value = (a0.mean() + a1.mean()) / 2 - (b0.mean() + b1.mean()) / 2
    assert row["difference_value"] == pytest.approx(value, abs=1e-12)
    assert (row["difference_low"], row["difference_high"]) == pytest.approx((low, high), abs=1e-12)
    assert row["excludes_zero"] and row["reading"] == "lmf higher"
    assert row["p_value"] == pytest.approx(2 * np.mean(paired <= 0), abs=1e-12)
    # this example tells the right formula from the wrong ones: it fails the test when the code has them
    other = group_weights(lesion_of, 2000, 1)  # b on resamples of its own
    unpaired = paired + (accuracy["b0"] + accuracy["b1"]) / 2 - ((other @ b0 + other @ b1) / other.sum(axis=1)) / 2
    assert np.percentile(unpaired, 2.5) < 0 < low
    assert abs(2 * value - high - low) > 1e-3  # basic interval: 2 value - high, 2 value - low
    assert abs(np.percentile(paired, 5) - low) > 1e-3  # a 90% interval
    first_seed = np.percentile(accuracy["a0"] - accuracy["b0"], [2.5, 97.5])
    assert abs(first_seed[0] - low) > 1e-3 and abs(first_seed[1] - high) > 1e-3
