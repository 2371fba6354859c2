"""The file-level steps behind the rules: a trained run and an ensemble run write their directory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from samderm.features.store import write_store
from samderm.heads import load_head
from samderm.io import read_json, read_tsv, write_tsv
from samderm.metrics import classification_metrics
from samderm.train import ensemble_run, train_run
from samderm.train.fit import HISTORY_COLUMNS

from .conftest import EXPERIMENT, LABELS, synthetic_tables

FILES = ["model.pt", "metrics.json", "predictions.tsv", "history.tsv", "isic_submission.csv", "isic_ground_truth.csv",
         "semi_supervised.tsv"]


def params(arch: str) -> dict:
    architecture = {"type": "ensemble", "members": ["parallel", "multihead"]} if arch == "ensemble" else {
        "type": arch, "hidden": [32], "dropout": 0.1}
    return {"experiment": EXPERIMENT, "loss": {"type": "ldam", "max_m": 0.5, "s": 30.0}, "architecture": architecture,
            "labels": LABELS, "training": {"device": "cpu"}, "isic_submission": {"unk_column": arch == "parallel"},
            "run": {"experiment": "exp1", "loss": "ldam", "architecture": arch, "crop": "full", "encoder": "tiny",
                    "pooling": "mean", "resolution": 64, "seed": 0}}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Tables as files and the features split into an images store and an augmented store."""
    root = tmp_path_factory.mktemp("inputs")
    t = synthetic_tables(augmented=1)
    for name in ("manifest", "views", "splits"):
        write_tsv(t[name], root / f"{name}.tsv")
    ids = np.asarray(t["view_ids"])
    augmented = np.char.find(ids.astype(str), "__aug") >= 0
    stores = []
    for name, keep in (("images", ~augmented), ("aug-smart", augmented)):
        write_store(root / name, ids[keep].tolist(), [t["features"][keep]], t["features"].shape[1], "float32", {"crop": "full"})
        stores.append(root / name)
    return {"manifest": root / "manifest.tsv", "splits": root / "splits.tsv", "views": root / "views.tsv",
            "store_dirs": stores, "tables": t}


@pytest.fixture(scope="module")
def runs(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    for arch in ("parallel", "multihead"):
        train_run(inputs["manifest"], inputs["splits"], inputs["views"], inputs["store_dirs"], params(arch), out / arch)
    ensemble_run([out / "parallel" / "predictions.tsv", out / "multihead" / "predictions.tsv"], params("ensemble"), out / "ensemble")
    return out


def test_trained_run_writes_every_file_and_a_loadable_model(runs, inputs):
    directory = runs / "parallel"
    assert all((directory / f).is_file() for f in FILES)
    metrics = read_json(directory / "metrics.json")
    assert metrics["run"] == params("parallel")["run"]
    assert metrics["tasks"]["lesion"]["classes"] == LABELS["lesion_classes"]
    assert metrics["tasks"]["lesion"]["test"]["macro_f1"] > 0.9
    model = load_head(directory / "model.pt")
    assert model.arch_config["cosine_scale"] == 30.0  # LDAM heads are cosine-normalised
    t = inputs["tables"]
    predictions = read_tsv(directory / "predictions.tsv")
    first = predictions[(predictions["image_id"] == "lesion_BCC_9") & (predictions["task"] == "lesion")]
    raw = torch.from_numpy(t["features"][t["view_ids"].index("lesion_BCC_9")][None])
    probabilities = model(raw)["lesion"].softmax(dim=1)[0].detach().numpy()
    assert first[[f"p_{c}" for c in LABELS["lesion_classes"]]].astype(float).to_numpy()[0] == pytest.approx(probabilities, abs=1e-5)
    history = read_tsv(directory / "history.tsv")
    assert list(history.columns) == HISTORY_COLUMNS and set(history["task"]) == {"skin", "lesion", "malignancy"}


def test_isic_submission_has_the_unk_column_only_where_the_config_asks(runs):
    columns = ["image"] + LABELS["lesion_classes"]
    assert list(pd.read_csv(runs / "multihead" / "isic_submission.csv").columns) == columns
    submission = pd.read_csv(runs / "parallel" / "isic_submission.csv")
    assert list(submission.columns) == columns + ["UNK"] and (submission["UNK"] == 0).all()


def test_predictions_cover_every_original_image_once_per_task_it_has(runs, inputs):
    predictions = read_tsv(runs / "multihead" / "predictions.tsv")
    originals = (inputs["tables"]["views"]["copy"] == "0").sum()
    counts = predictions.groupby("task").size().to_dict()
    assert counts == {"skin": originals, "lesion": 8 * 20, "malignancy": 8 * 20}
    assert predictions.loc[predictions["task"] == "skin", "p_MEL"].eq("").all()


def test_ensemble_averages_member_probabilities(runs):
    members = [read_tsv(runs / m / "predictions.tsv").set_index(["image_id", "task"]).sort_index() for m in ("parallel", "multihead")]
    ensemble = read_tsv(runs / "ensemble" / "predictions.tsv").set_index(["image_id", "task"]).sort_index()
    lesion = [f"p_{c}" for c in LABELS["lesion_classes"]]
    rows = ensemble.index.get_level_values("task") == "lesion"
    mean = (members[0].loc[rows, lesion].astype(float) + members[1].loc[rows, lesion].astype(float)) / 2
    assert np.allclose(ensemble.loc[rows, lesion].astype(float), mean)
    assert not np.allclose(members[0].loc[rows, lesion].astype(float), mean)
    metrics = read_json(runs / "ensemble" / "metrics.json")
    assert metrics["members"] == ["parallel", "multihead"] and not (runs / "ensemble" / "model.pt").exists()
    assert list(read_tsv(runs / "ensemble" / "history.tsv").columns) == HISTORY_COLUMNS


@pytest.mark.parametrize("arch", ["parallel", "ensemble"])
def test_isic_files_hold_the_lesion_test_split_and_match_metrics_json(runs, arch):
    submission = pd.read_csv(runs / arch / "isic_submission.csv")
    truth = pd.read_csv(runs / arch / "isic_ground_truth.csv")
    classes = LABELS["lesion_classes"]
    unk = ["UNK"] if params(arch)["isic_submission"]["unk_column"] else []
    assert list(submission.columns) == list(truth.columns) == ["image"] + classes + unk
    assert submission["image"].tolist() == truth["image"].tolist() and len(truth) == 8 * 4
    assert np.allclose(submission[classes].sum(axis=1), 1.0, atol=1e-6) and (truth[classes].sum(axis=1) == 1).all()
    recomputed = classification_metrics(truth[classes].to_numpy().argmax(1), submission[classes].to_numpy().argmax(1), classes)
    assert read_json(runs / arch / "metrics.json")["tasks"]["lesion"]["test"] == recomputed


def test_ensemble_refuses_members_with_other_rows(runs, tmp_path):
    other = read_tsv(runs / "multihead" / "predictions.tsv").iloc[1:]
    write_tsv(other, tmp_path / "short.tsv")
    with pytest.raises(ValueError, match="short.tsv: predictions cover other rows"):
        ensemble_run([runs / "parallel" / "predictions.tsv", tmp_path / "short.tsv"], params("ensemble"), tmp_path / "e")


def test_ldam_drw_starts_reweighting_at_80_percent_of_the_experiment_epochs(inputs, tmp_path, caplog):
    run_params = {**params("parallel"), "loss": {"type": "ldam_drw"}, "experiment": {**EXPERIMENT, "epochs": 10}}
    with caplog.at_level("INFO", logger="samderm.train.run"):
        train_run(inputs["manifest"], inputs["splits"], inputs["views"], inputs["store_dirs"], run_params, tmp_path)
    assert "deferred re-weighting from epoch 8 of 10" in caplog.text


def test_a_supervised_run_writes_an_empty_semi_supervised_table(runs):
    from samderm.train.semi_supervised import COLUMNS

    table = read_tsv(runs / "parallel" / "semi_supervised.tsv")
    assert list(table.columns) == COLUMNS and table.empty
