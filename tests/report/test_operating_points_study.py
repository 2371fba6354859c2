"""The study's operating-point tables and ROC figure: models chosen on val, thresholds chosen on val and
applied to test, on a tiny hand-written results tree whose numbers can be checked by hand."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from samderm.io import write_tsv
from samderm.matrix import Run
from samderm.report.aggregate import CONFIG_KEYS, RUN_KEYS, ResultsError, aggregate_runs, read_runs
from samderm.report.operating_points import (chosen_configurations, roc_operating_points_figure,
                                             tabulate_operating_points)

REPORT = {"selection_metric": "macro_f1", "bootstrap": {"resamples": 200, "level": 0.95, "seed": 0}}
VAL_BEST = Run("exp1", "lmf", "parallel", "full", "encA", "mean", 256, 0)
TEST_BEST = Run("exp1", "wce", "parallel", "full", "encA", "mean", 256, 0)
OTHER_ENCODER = Run("exp1", "wce", "parallel", "full", "encB", "mean", 256, 0)
HELD_OUT = Run("exp5", "wce", "parallel", "full", "encA", "mean", 256, 0)  # MEL held out; val-best on lesion
SECOND_SEED = Run(*list(VAL_BEST.as_dict().values())[:-1], 1)
# (val macro-F1, test macro-F1) per configuration and task: the val-best is not the test-best
SCORES = {VAL_BEST: (0.8, 0.5), TEST_BEST: (0.6, 0.9), OTHER_ENCODER: (0.5, 0.4), SECOND_SEED: (0.8, 0.5)}
HELD_OUT_SCORES = {"lesion": (0.95, 0.3), "malignancy": (0.1, 0.1)}

# p(malignant) of the val-best model's first seed, by hand: 4 val positives, 10 val negatives
VAL_POSITIVE = [0.9, 0.8, 0.6, 0.4]
VAL_NEGATIVE = [0.7, 0.5, 0.45, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05]
TEST_POSITIVE = [0.95, 0.55, 0.49, 0.3]
TEST_NEGATIVE = [0.6, 0.5, 0.4, 0.2, 0.1]


def run_dir(root: Path, run: Run) -> Path:
    return root / "runs" / run.path


def runs_table(root: Path) -> Path:
    rows = []
    for run, (val, test) in SCORES.items():
        for task in ("malignancy", "lesion"):
            rows += [(*run.as_dict().values(), task, split, metric, value) for split, value in (("val", val),
                     ("test", test)) for metric in ("macro_f1", "balanced_accuracy")]
    for task, (val, test) in HELD_OUT_SCORES.items():
        rows += [(*HELD_OUT.as_dict().values(), task, split, metric, value) for split, value in (("val", val),
                 ("test", test)) for metric in ("macro_f1", "balanced_accuracy")]
    path = root / "tables" / "runs.tsv"
    write_tsv(pd.DataFrame(rows, columns=RUN_KEYS + ["task", "split", "metric", "value"]), path)
    return path


def task_rows(split: str, positive: list[float], negative: list[float], task: str, held_out: bool = False
              ) -> pd.DataFrame:
    """One row per image: malignant/MEL are the positives, the score is p(malignant) or p(MEL)."""
    score = np.array(positive + negative)
    is_positive = np.arange(len(score)) < len(positive)
    ids = [f"{split}_{i:02d}" for i in range(len(score))]
    frame = pd.DataFrame({"image_id": ids, "split": split, "task": task})
    if task == "malignancy":
        frame["label"] = np.where(is_positive, "malignant", "benign")
        frame["p_benign"], frame["p_malignant"] = 1 - score, score
    elif held_out:  # MEL is not a class of this run: its lesion head knows NV and BCC only
        frame["label"] = np.where(is_positive, "BCC", "NV")
        frame["p_NV"], frame["p_BCC"] = 1 - score, score
    else:
        frame["label"] = np.where(is_positive, "MEL", np.where(np.arange(len(score)) % 2, "NV", "BCC"))
        frame["p_MEL"], frame["p_NV"], frame["p_BCC"] = score, (1 - score) / 2, (1 - score) / 2
    frame["predicted"] = frame["label"]
    return frame


def write_predictions(root: Path, run: Run, val: tuple[list, list], test: tuple[list, list]) -> Path:
    parts = [task_rows(split, *scores, task, held_out=run == HELD_OUT) for task in ("malignancy", "lesion")
             for split, scores in (("val", val), ("test", test))]
    columns = ["image_id", "split", "task", "label", "predicted", "p_benign", "p_malignant", "p_MEL", "p_NV", "p_BCC"]
    table = pd.concat(parts, ignore_index=True).reindex(columns=columns).astype(object).fillna("")
    path = run_dir(root, run) / "predictions.tsv"
    write_tsv(table, path)
    return path


def build_tree(root: Path) -> tuple[Path, list[Path], Path]:
    """(runs.tsv, run directories, manifest.tsv) of the tiny study."""
    rng = np.random.default_rng(1)
    for run in [*SCORES, HELD_OUT]:
        if run == VAL_BEST:
            write_predictions(root, run, (VAL_POSITIVE, VAL_NEGATIVE), (TEST_POSITIVE, TEST_NEGATIVE))
        else:  # other scores: a wrong model or seed would give other thresholds
            write_predictions(root, run, (list(rng.uniform(0.3, 1, 4)), list(rng.uniform(0, 0.7, 10))),
                              (list(rng.uniform(0.3, 1, 4)), list(rng.uniform(0, 0.7, 5))))
    ids = [f"val_{i:02d}" for i in range(14)] + [f"test_{i:02d}" for i in range(9)]
    manifest = pd.DataFrame({"image_id": ids, "source": "lesion", "lesion_id": [f"L{i // 2}" for i in range(len(ids))]})
    manifest["group_id"] = manifest["lesion_id"]
    write_tsv(manifest, root / "data" / "manifest.tsv")
    return runs_table(root), [run_dir(root, r) for r in [*SCORES, HELD_OUT]], root / "data" / "manifest.tsv"


def tabulate(root: Path, runs: Path, dirs: list[Path], manifest: Path, held_out=("exp5",)):
    return tabulate_operating_points(runs, dirs, manifest, root / "tables" / "operating_points",
                                     root / "tables" / "class_auroc", REPORT, held_out)


def point(table: pd.DataFrame, scope: str, task: str, name: str) -> pd.Series:
    rows = table[(table["scope"] == scope) & (table["task"] == task) & (table["operating_point"] == name)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_the_val_best_configuration_is_chosen_not_the_test_best(tmp_path):
    runs, _, _ = build_tree(tmp_path)
    chosen = chosen_configurations(read_runs(runs), "macro_f1", ["exp5"])
    best = chosen[chosen["scope"] == "best per task"].set_index("task")
    for task in ("malignancy", "lesion"):  # TEST_BEST has the higher test macro-F1, VAL_BEST the higher val
        assert tuple(best.loc[task, CONFIG_KEYS]) == tuple(list(VAL_BEST.as_dict().values())[:-1])
    per_encoder = chosen[chosen["scope"] == "best per encoder"]
    assert sorted(zip(per_encoder["task"], per_encoder["encoder"], per_encoder["loss"])) == [
        ("lesion", "encA", "lmf"), ("lesion", "encB", "wce"), ("malignancy", "encA", "lmf"),
        ("malignancy", "encB", "wce")]
    # the held-out experiment is the val-best lesion model only when it is not excluded
    unexcluded = chosen_configurations(read_runs(runs), "macro_f1")
    lesion = unexcluded[(unexcluded["scope"] == "best per task") & (unexcluded["task"] == "lesion")].iloc[0]
    assert lesion["experiment"] == "exp5"


def test_operating_point_by_hand(tmp_path):
    points, aurocs = tabulate(tmp_path, *build_tree(tmp_path))
    for task in ("malignancy", "lesion"):
        row = point(points, "best per task", task, "sensitivity@specificity0.80")
        assert row["loss"] == "lmf" and row["seed"] == 0 and row["n_seeds"] == 2  # first seed of two
        assert row["target"] == ("malignant" if task == "malignancy" else "MEL")
        # val negatives below 0.5: 0.45, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05 = 8 of 10 -> specificity 0.80;
        # at the next lower candidate 0.45 only 7 of 10 are below it
        assert row["threshold"] == 0.5
        assert row["val_specificity"] == pytest.approx(8 / 10)
        assert row["val_sensitivity"] == pytest.approx(3 / 4)  # 0.9, 0.8, 0.6 >= 0.5
        assert row["test_sensitivity_value"] == pytest.approx(2 / 4)  # 0.95, 0.55 >= 0.5; 0.49, 0.3 below
        assert row["test_specificity_value"] == pytest.approx(3 / 5)  # 0.4, 0.2, 0.1 below; 0.6, 0.5 not
        assert row["test_sensitivity_low"] <= row["test_sensitivity_value"] <= row["test_sensitivity_high"]
        assert row["n_test"] == 9 and row["n_groups"] == 5 and row["n_resamples"] == 200
        # specificity at sensitivity 0.95: every val positive must be called, so t = 0.4 (the lowest positive)
        row = point(points, "best per task", task, "specificity@sensitivity0.95")
        assert row["threshold"] == 0.4 and row["val_specificity"] == pytest.approx(7 / 10)
    # the held-out run never appears; every encoder has its rows; the files are written
    assert set(points["experiment"]) == {"exp1"} and set(points["encoder"]) == {"encA", "encB"}
    auroc = aurocs[(aurocs["scope"] == "best per task") & (aurocs["task"] == "malignancy")
                   & (aurocs["target"] == "malignant")].iloc[0]
    # test positives above test negatives: 0.95 > 5; 0.55 > 4 (not 0.6); 0.49 > 3; 0.3 > 2 -> 14 of 20
    assert auroc["auroc_value"] == pytest.approx(14 / 20)
    assert set(aurocs.loc[aurocs["task"] == "lesion", "target"]) == {"MEL", "NV", "BCC"}
    for name in ("operating_points", "class_auroc"):
        for ext in ("csv", "md", "tex", "html"):
            assert (tmp_path / "tables" / f"{name}.{ext}").stat().st_size > 0
    assert "chosen on the validation" in (tmp_path / "tables" / "operating_points.md").read_text()


def test_test_labels_never_move_a_threshold_but_val_scores_do(tmp_path):
    runs, dirs, manifest = build_tree(tmp_path)
    before, _ = tabulate(tmp_path, runs, dirs, manifest)
    # other test labels and scores: the same thresholds, other test rates
    write_predictions(tmp_path, VAL_BEST, (VAL_POSITIVE, VAL_NEGATIVE), (TEST_NEGATIVE[:2], TEST_POSITIVE +
                                                                          TEST_NEGATIVE[2:] + [0.99]))
    manifest_table = pd.read_csv(manifest, sep="\t", dtype=str)
    write_tsv(pd.concat([manifest_table, pd.DataFrame({"image_id": ["test_09"], "source": "lesion",
                                                       "lesion_id": ["L99"], "group_id": ["L99"]})]), manifest)
    changed_test, _ = tabulate(tmp_path, runs, dirs, manifest)
    pd.testing.assert_series_equal(before["threshold"], changed_test["threshold"])
    assert not np.allclose(before["test_sensitivity_value"], changed_test["test_sensitivity_value"])
    # other val scores: other thresholds
    write_predictions(tmp_path, VAL_BEST, (VAL_POSITIVE, [s + 0.04 for s in VAL_NEGATIVE]),
                      (TEST_POSITIVE, TEST_NEGATIVE))
    changed_val, _ = tabulate(tmp_path, runs, dirs, manifest)
    ours = (changed_val["loss"] == "lmf") & (changed_val["operating_point"] == "sensitivity@specificity0.80")
    assert changed_val.loc[ours, "threshold"].tolist() == pytest.approx([0.54] * 4)  # 2 scopes x 2 targets
    assert not before["threshold"].equals(changed_val["threshold"])


def test_held_out_mel_is_skipped_with_a_log_line(tmp_path, caplog):
    runs, dirs, manifest = build_tree(tmp_path)
    with caplog.at_level(logging.INFO):
        points, aurocs = tabulate(tmp_path, runs, dirs, manifest, held_out=())
    assert "has no class MEL" in caplog.text
    assert not ((points["scope"] == "best per task") & (points["task"] == "lesion")).any()
    lesion = aurocs[(aurocs["scope"] == "best per task") & (aurocs["task"] == "lesion")]
    assert set(lesion["experiment"]) == {"exp5"} and set(lesion["target"]) == {"NV", "BCC"}


def test_bad_inputs_name_the_file(tmp_path):
    runs, dirs, manifest = build_tree(tmp_path)
    with pytest.raises(ResultsError, match="no predictions.tsv among the inputs"):
        tabulate(tmp_path, runs, [d for d in dirs if d.parent != run_dir(tmp_path, VAL_BEST).parent], manifest)
    path = write_predictions(tmp_path, VAL_BEST, ([], VAL_POSITIVE + VAL_NEGATIVE), (TEST_POSITIVE, TEST_NEGATIVE))
    with pytest.raises(ResultsError, match=f"{path}.*no positives"):
        tabulate(tmp_path, runs, dirs, manifest)


def test_roc_figure_is_written(tmp_path):
    runs, dirs, _ = build_tree(tmp_path)
    png, svg = tmp_path / "figures" / "roc.png", tmp_path / "figures" / "roc.svg"
    roc_operating_points_figure(runs, dirs, "macro_f1", png, svg, ["exp5"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    assert "spec≥0.90 on val" in text and "MEL vs rest" in text and "malignant vs rest" in text


def test_the_synthetic_study_runs_end_to_end(study, tmp_path):
    aggregate_runs(study.run_dirs, tmp_path / "runs.tsv")
    points, aurocs = tabulate_operating_points(tmp_path / "runs.tsv", study.run_dirs, study.data / "manifest.tsv",
                                               tmp_path / "operating_points", tmp_path / "class_auroc", REPORT)
    assert set(points["target"]) == {"malignant", "MEL"}
    assert set(aurocs["task"]) == {"skin", "lesion", "malignancy"}
    roc_operating_points_figure(tmp_path / "runs.tsv", study.run_dirs, "macro_f1", tmp_path / "roc.png",
                                tmp_path / "roc.svg")
    assert (tmp_path / "roc.png").stat().st_size > 0
