"""The held-out lesion class protocol (experiments.<name>.held_out_classes): the trainer never sees
the class, the lesion head has no output for it, and the other tasks keep their val/test images."""

from __future__ import annotations

import numpy as np
import pytest

from samderm.features.store import write_store
from samderm.io import read_json, read_tsv, write_tsv
from samderm.train import run as run_module
from samderm.train import ensemble_run, train_run
from samderm.train.tasks import task_classes

from .conftest import EXPERIMENT, LABELS, LESION, synthetic_tables

HELD_OUT = "DF"
RUN = {"experiment": "exp1_open", "loss": "wce", "architecture": "parallel", "crop": "full", "encoder": "tiny",
       "pooling": "mean", "resolution": 64, "seed": 0}


def params(arch: str = "parallel") -> dict:
    architecture = {"type": "ensemble", "members": ["parallel"]} if arch == "ensemble" else {"type": arch, "hidden": [32], "dropout": 0.1}
    return {"experiment": {**EXPERIMENT, "epochs": 5, "held_out_classes": [HELD_OUT]},
            "loss": {"type": "weighted_ce", "weighting": "inverse_frequency"}, "architecture": architecture,
            "labels": LABELS, "training": {"device": "cpu"}, "isic_submission": {"unk_column": False},
            "run": {**RUN, "architecture": arch}}


@pytest.fixture(scope="module")
def held_out_run(tmp_path_factory):
    """A held-out run, with the RunData the trainer was handed (captured on its way in)."""
    root = tmp_path_factory.mktemp("held_out")
    t = synthetic_tables(per_class=10, augmented=1)
    for name in ("manifest", "views", "splits"):
        write_tsv(t[name], root / f"{name}.tsv")
    write_store(root / "store", t["view_ids"], [t["features"]], t["features"].shape[1], "float32", {"crop": "full"})
    handed = []
    real = run_module.train_heads

    def spy(data, *args, **kwargs):
        handed.append(data)
        return real(data, *args, **kwargs)

    run_module.train_heads = spy
    try:
        train_run(root / "manifest.tsv", root / "splits.tsv", root / "views.tsv", [root / "store"], params(), root / "run")
    finally:
        run_module.train_heads = real
    return root, t, handed[0]


def test_the_trainer_never_sees_the_held_out_class(held_out_run):
    _, t, data = held_out_run
    classes = t["manifest"].set_index("image_id")["lesion_class"]
    train_ids = data.image_ids[data.rows("train")]  # the rows train_heads fits on (every task)
    assert len(train_ids) and HELD_OUT not in set(classes[train_ids])
    held = t["manifest"].loc[t["manifest"]["lesion_class"] == HELD_OUT, "image_id"]
    assert not set(train_ids) & set(held)
    # the other classes keep their augmented copies too
    assert (~data.original[data.rows("train")]).any()


def test_the_lesion_head_has_no_output_for_it_and_its_metrics_leave_it_out(held_out_run):
    root, _, _ = held_out_run
    from samderm.heads import load_head

    lesion = [c for c in LESION if c != HELD_OUT]
    assert load_head(root / "run" / "model.pt").tasks["lesion"] == lesion
    metrics = read_json(root / "run" / "metrics.json")["tasks"]
    assert metrics["lesion"]["classes"] == lesion
    predictions = read_tsv(root / "run" / "predictions.tsv")
    on_lesion = predictions[predictions["task"] == "lesion"]
    assert HELD_OUT not in set(on_lesion["label"]) and "p_DF" not in predictions.columns
    # skin and malignancy still predict the held-out images of val and test (not train)
    held = predictions[predictions["image_id"].str.startswith(f"lesion_{HELD_OUT}_")]
    assert set(held["task"]) == {"skin", "malignancy"} and set(held["split"]) == {"val", "test"}
    assert list(__import__("pandas").read_csv(root / "run" / "isic_submission.csv").columns) == ["image", *lesion]


def test_an_ensemble_of_held_out_members_keeps_their_classes(held_out_run):
    root, _, _ = held_out_run
    ensemble_run([root / "run" / "predictions.tsv"], params("ensemble"), root / "ensemble")
    assert read_json(root / "ensemble" / "metrics.json")["tasks"]["lesion"]["classes"] == [c for c in LESION if c != HELD_OUT]


def test_bad_held_out_classes_are_named():
    with pytest.raises(ValueError, match=r"held_out_classes: \['XX'\] are not lesion classes"):
        task_classes(LABELS, ["XX"])
    with pytest.raises(ValueError, match="leave the lesion task 1 class"):
        task_classes({"lesion_classes": ["MEL", "NV"]}, ["MEL"])
    assert np.array_equal(task_classes(LABELS, [HELD_OUT])["lesion"], [c for c in LESION if c != HELD_OUT])
