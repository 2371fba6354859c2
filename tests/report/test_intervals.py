"""Bootstrap intervals of the test metrics from the runs' predictions, and the summary tables that show them."""

import numpy as np
import pandas as pd
import pytest

from samderm.io import read_tsv, write_tsv
from samderm.metrics.bootstrap import group_weights
from samderm.report.aggregate import ResultsError, aggregate_runs
from samderm.report.intervals import bootstrap_intervals, read_intervals
from samderm.report.summaries import tabulate_classification


def _predictions(run_dir, task, split="test"):
    table = read_tsv(run_dir / "predictions.tsv")
    return table[(table["task"] == task) & (table["split"] == split)]


def test_intervals_rest_on_each_seeds_test_predictions(study, tmp_path):
    table = bootstrap_intervals(study.run_dirs, study.data / "manifest.tsv", tmp_path / "i.tsv", 200, 0.9, 0)
    assert len(table) == 12 * 3 * 4  # configurations x tasks x metrics
    row = table[(table["experiment"] == "exp6") & (table["loss"] == "wce") & (table["architecture"] == "parallel")
                & (table["task"] == "lesion") & (table["metric"] == "accuracy")].iloc[0]
    seeds = [d for d in study.run_dirs if "exp6/wce/parallel/" in d.as_posix()]
    accuracies = []
    for run_dir in seeds:
        rows = _predictions(run_dir, "lesion")
        accuracies.append(float((rows["label"] == rows["predicted"]).mean()))
    assert row["mean"] == pytest.approx(np.mean(accuracies))
    assert row["std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert row["low"] <= row["high"] and row["n_seeds"] == 2 and row["n_resamples"] == 200
    manifest = read_tsv(study.data / "manifest.tsv").set_index("image_id")
    ids = _predictions(seeds[0], "lesion")["image_id"]
    assert row["n_images"] == len(ids) and row["n_groups"] == manifest.loc[ids, "lesion_id"].nunique()
    assert (table["low"] <= table["high"]).all()


def test_the_interval_is_the_percentile_of_the_seed_mean_over_lesion_resamples(study, tmp_path):
    table = bootstrap_intervals(study.run_dirs, study.data / "manifest.tsv", tmp_path / "i.tsv", 500, 0.95, 2)
    row = table[(table["experiment"] == "exp6") & (table["loss"] == "lmf") & (table["architecture"] == "ensemble")
                & (table["task"] == "malignancy") & (table["metric"] == "accuracy")].iloc[0]
    seeds = [_predictions(d, "malignancy").sort_values("image_id") for d in study.run_dirs
             if "exp6/lmf/ensemble/" in d.as_posix()]
    lesion_of = read_tsv(study.data / "manifest.tsv").set_index("image_id").loc[seeds[0]["image_id"], "lesion_id"]
    weights = group_weights(lesion_of.to_numpy(), 500, 2)
    # accuracy of each seed in each resample: the weighted share of right images; then the mean over seeds
    per_seed = [weights @ (rows["label"] == rows["predicted"]).to_numpy(float) / weights.sum(axis=1) for rows in seeds]
    low, high = np.percentile(np.mean(per_seed, axis=0), [2.5, 97.5])
    assert (row["low"], row["high"]) == pytest.approx((low, high), abs=1e-12)
    assert row["level"] == 0.95
    # this example tells the right formula from the wrong ones: it fails the test when the code has them
    assert abs(2 * row["mean"] - high - low) > 1e-3  # basic interval: 2 mean - high, 2 mean - low
    assert abs(np.percentile(np.mean(per_seed, axis=0), 5) - low) > 1e-3  # a 90% interval
    assert abs(np.percentile(per_seed[0], 2.5) - low) > 1e-3  # the first seed alone


def test_same_seed_same_intervals(study, tmp_path):
    manifest = study.data / "manifest.tsv"
    first = bootstrap_intervals(study.run_dirs, manifest, tmp_path / "a.tsv", 100, 0.95, 3)
    again = bootstrap_intervals(study.run_dirs, manifest, tmp_path / "b.tsv", 100, 0.95, 3)
    other = bootstrap_intervals(study.run_dirs, manifest, tmp_path / "c.tsv", 100, 0.95, 4)
    threaded = bootstrap_intervals(study.run_dirs, manifest, tmp_path / "d.tsv", 100, 0.95, 3, threads=3)
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes() == (tmp_path / "d.tsv").read_bytes()
    assert threaded.equals(first)
    assert first.equals(again) and not first["low"].equals(other["low"])


def test_group_id_joins_lesions_when_the_manifest_has_it(study, tmp_path):
    manifest = read_tsv(study.data / "manifest.tsv")
    manifest["group_id"] = np.where(manifest["source"] == "lesion", "one_patient", "")
    write_tsv(manifest, tmp_path / "manifest.tsv")
    table = bootstrap_intervals(study.run_dirs[:1], tmp_path / "manifest.tsv", tmp_path / "i.tsv", 50, 0.95, 0)
    lesion = table[table["task"] == "lesion"].iloc[0]
    skin = table[table["task"] == "skin"].iloc[0]
    assert lesion["n_groups"] == 1
    # one seed: no spread, read back as NaN
    assert read_intervals(tmp_path / "i.tsv")["std"].isna().all()
    # not-skin images have no group: each is its own
    assert skin["n_groups"] == 1 + (skin["n_images"] - lesion["n_images"])


def test_an_image_missing_from_the_manifest_is_named(study, tmp_path):
    manifest = read_tsv(study.data / "manifest.tsv")
    tested = read_tsv(study.run_dirs[0] / "predictions.tsv").query("split == 'test'")["image_id"].iloc[0]
    write_tsv(manifest[manifest["image_id"] != tested], tmp_path / "manifest.tsv")
    with pytest.raises(ResultsError, match=f"manifest.tsv: no row for predicted image.*{tested}"):
        bootstrap_intervals(study.run_dirs[:1], tmp_path / "manifest.tsv", tmp_path / "i.tsv", 10, 0.95, 0)


def test_a_run_tested_on_other_images_is_named(study, tmp_path):
    path = study.run_dirs[3] / "predictions.tsv"
    table = read_tsv(path)
    test_rows = table.index[(table["split"] == "test") & (table["task"] == "lesion")]
    write_tsv(table.drop(test_rows[0]), path)
    with pytest.raises(ResultsError, match="predictions.tsv.*task lesion"):
        bootstrap_intervals(study.run_dirs, study.data / "manifest.tsv", tmp_path / "i.tsv", 10, 0.95, 0)


def test_every_summary_table_shows_intervals_beside_mean_and_spread(study, tmp_path):
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    bootstrap_intervals(study.run_dirs, study.data / "manifest.tsv", tmp_path / "intervals.tsv", 100, 0.95, 0)
    tabulate_classification(tmp_path / "runs.tsv", tmp_path, "macro_f1", tmp_path / "intervals.tsv")
    intervals = read_tsv(tmp_path / "intervals.tsv")
    for name in ("best_models", "architectures", "losses", "configurations"):
        table = pd.read_csv(tmp_path / f"{name}.csv")
        columns = list(table.columns)
        assert columns.index("macro_f1_low") == columns.index("macro_f1_std") + 2
        assert {"auroc_mean", "auroc_std", "auroc_value", "auroc_low", "auroc_high"} <= set(columns)
        first = table.iloc[0]
        mine = intervals[(intervals["experiment"] == first["experiment"]) & (intervals["loss"] == first["loss"])
                         & (intervals["architecture"] == first["architecture"]) & (intervals["task"] == first["task"])
                         & (intervals["metric"] == "macro_f1")].iloc[0]
        assert first["macro_f1_low"] == pytest.approx(float(mine["low"]))
        md, tex, html = (tmp_path / f"{name}.md").read_text(), (tmp_path / f"{name}.tex").read_text(), \
            (tmp_path / f"{name}.html").read_text()
        cell = f"{first['macro_f1_value']:.3f} [{first['macro_f1_low']:.3f}, {first['macro_f1_high']:.3f}]"
        assert "macro-F1 [interval]" in md and cell in md and cell in tex and cell in html
        assert "95% percentile bootstrap interval" in md
