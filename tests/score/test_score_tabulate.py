"""The external table: the study's best model on val beside each external file, on the same test images, with a
paired difference (the same group resamples for both)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from samderm.io import write_tsv
from samderm.metrics.bootstrap import group_weights, percentile_interval, resampled_metrics
from samderm.report.aggregate import RUN_KEYS
from samderm.report.predictions import TaskPredictions
from samderm.score.exchange import exchange_table
from samderm.score.score import score_file
from samderm.score.tabulate import paired_rows, tabulate_external

CLASSES = ["MEL", "NV", "BCC"]
REPORT = {"selection_metric": "macro_f1", "bootstrap": {"resamples": 200, "level": 0.9, "seed": 3}}


def _predictions(n: int, seed: int, hit: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    favoured = np.where(rng.random(n) < hit, labels, rng.integers(0, len(CLASSES), n))
    probabilities = rng.dirichlet(np.ones(len(CLASSES)), n) + 2 * np.eye(len(CLASSES))[favoured]
    return labels, probabilities / probabilities.sum(axis=1, keepdims=True)


def _run_rows(ids, labels, probabilities, split="test") -> pd.DataFrame:
    table = pd.DataFrame({"image_id": ids, "split": split, "task": "lesion", "label": np.asarray(CLASSES)[labels],
                          "predicted": np.asarray(CLASSES)[probabilities.argmax(axis=1)]})
    for i, c in enumerate(CLASSES):
        table[f"p_{c}"] = probabilities[:, i]
    return table


def test_paired_difference_uses_the_same_resamples():
    n = 30
    ids = np.array([f"ISIC_{i:02d}" for i in range(n)])
    groups = np.array([f"L{i // 2}" for i in range(n)])
    labels, study_p = _predictions(n, 0, 0.7)
    _, external_p = _predictions(n, 1, 0.5)
    external = TaskPredictions(CLASSES, ids, labels, external_p)
    study = TaskPredictions(CLASSES, ids, labels, study_p)
    rows = pd.DataFrame(paired_rows("ext", "lesion", external, groups, [study], "cfg", 200, 3, 0.9)).set_index("metric")
    weights = group_weights(groups, 200, 3)
    paired = resampled_metrics(weights, labels, external_p) - resampled_metrics(weights, labels, study_p)
    low, high = percentile_interval(paired, 0.9)
    assert rows["difference_low"].tolist() == pytest.approx(list(low))
    assert rows["difference_high"].tolist() == pytest.approx(list(high))
    # an unpaired difference (independent resamples for each model) gives another interval
    unpaired = resampled_metrics(weights, labels, external_p) - resampled_metrics(group_weights(groups, 200, 4),
                                                                                  labels, study_p)
    unpaired_low, unpaired_high = percentile_interval(unpaired, 0.9)
    assert not np.allclose(unpaired_low, low)
    # a model against itself: every resample's difference is 0 when paired
    same = pd.DataFrame(paired_rows("ext", "lesion", study, groups, [study], "cfg", 200, 3, 0.9))
    assert (same[["difference_value", "difference_low", "difference_high"]].to_numpy() == 0).all()
    assert (same["p_value"] == 1).all()


def test_paired_rows_match_ids_reorder_classes_and_keep_common_images():
    ids = np.array(["ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4"])
    labels, probabilities = np.array([0, 1, 2, 1]), np.eye(3)[[0, 1, 2, 0]] * 0.7 + 0.1
    study = TaskPredictions(CLASSES, ids, labels, probabilities)
    # the external file: other class order, filenames with .jpg, one image the study lacks, one it has not
    order = [2, 0, 1]
    external_ids = np.array(["ISIC_1.jpg", "ISIC_2.jpg", "ISIC_3.jpg", "X.jpg"])
    external = TaskPredictions([CLASSES[k] for k in order], external_ids, np.array([1, 2, 0, 0]),
                               probabilities[:, order])
    rows = pd.DataFrame(paired_rows("ext", "lesion", external, np.array(["a", "b", "c", "d"]), [study], "cfg", 50, 0,
                                    0.9)).set_index("metric")
    assert rows.loc["accuracy", "n_images"] == 3 and rows.loc["accuracy", "n_external_test"] == 4
    assert rows.loc["accuracy", "external_value"] == 1.0 and rows.loc["accuracy", "study_value"] == 1.0


def test_tabulate_external_end_to_end(tmp_path):
    n = 24
    ids = [f"ISIC_{i:02d}" for i in range(n)]
    manifest = pd.DataFrame({"image_id": ids, "lesion_id": [f"L{i // 3}" for i in range(n)],
                             "group_id": [f"L{i // 3}" for i in range(n)]})
    write_tsv(manifest, tmp_path / "manifest.tsv")
    runs, dirs = [], []
    for loss, val_f1, seed_data in (("wce", 0.4, 10), ("lmf", 0.6, 20)):
        for seed in (0, 1):
            run_dir = tmp_path / "runs" / "exp1" / loss / "parallel" / "full" / "tiny-mean-r256" / f"seed{seed}"
            labels, p = _predictions(n, seed_data + seed, 0.7)
            write_tsv(_run_rows(ids, labels, p), run_dir / "predictions.tsv")
            dirs.append(run_dir)
            for metric, value in (("macro_f1", val_f1), ("balanced_accuracy", val_f1)):
                runs.append(["exp1", loss, "parallel", "full", "tiny", "mean", 256, seed, "lesion", "val", metric,
                             value])
    write_tsv(pd.DataFrame(runs, columns=RUN_KEYS + ["task", "split", "metric", "value"]), tmp_path / "runs.tsv")
    # the external model: the best configuration's seed 0, shared through the exchange schema
    labels, p = _predictions(n, 20, 0.7)
    exchange_table(_run_rows(ids, labels, p), CLASSES).to_csv(tmp_path / "ext.csv", index=False)
    score_file(tmp_path / "ext.csv", tmp_path / "external" / "ref", classes=CLASSES, groups="manifest",
               manifest_tsv=tmp_path / "manifest.tsv", n_resamples=50)
    table = tabulate_external({"ref": tmp_path / "external" / "ref" / "predictions.tsv"}, tmp_path / "runs.tsv", dirs,
                              tmp_path / "tables" / "external", REPORT)
    assert set(table["study"]) == {"exp1/lmf/parallel/full/tiny-mean-r256"}
    assert (table["n_seeds"] == 2).all() and (table["n_images"] == n).all() and (table["n_groups"] == 8).all()
    seed0 = resampled_metrics(np.ones((1, n)), labels, p)[0]
    _, p1 = _predictions(n, 21, 0.7)
    seed1 = resampled_metrics(np.ones((1, n)), labels, p1)[0]
    assert table["external_value"].tolist() == pytest.approx(list(seed0))
    assert table["study_value"].tolist() == pytest.approx(list((seed0 + seed1) / 2))
    assert table["difference_value"].tolist() == pytest.approx(list((seed0 - seed1) / 2))
    for fmt in ("csv", "md", "tex", "html"):
        assert (tmp_path / "tables" / f"external.{fmt}").is_file()
    assert "external [interval]" in (tmp_path / "tables" / "external.md").read_text()
