"""The finished demo study's bundle (shared ``finished_study`` fixture): a test image predicted alone
gives the study's own probabilities, and the demo's OOD pictures (the flower among them) are
rejected, or shown as accepted with their label: the output tells the truth either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samderm.io import read_json, read_tsv
from samderm.predict import FORMAT, predict_images
from tests.conftest import snakemake

pytestmark = pytest.mark.slow


def _path(study: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else study / path


def test_bundle_is_written_with_the_chosen_runs(finished_study):
    bundle = read_json(finished_study / "results/models/bundle.json")
    assert bundle["format"] == FORMAT
    assert set(bundle["tasks"]) == {"skin", "lesion", "malignancy"}
    for spec in bundle["tasks"].values():
        assert (finished_study / "results/models" / spec["model"]).is_file()
        assert spec["temperature"] is not None  # the demo calibrates every run
        assert spec["temperature_status"] in ("fitted", "val_error_free", "at_search_bound")
    assert bundle["gate"]["threshold"] == pytest.approx(bundle["gate"]["threshold"])
    assert all(fs["random_weights"] for fs in bundle["feature_sets"].values())  # the demo's encoders


def test_a_test_image_alone_gives_the_study_probabilities(finished_study, tmp_path):
    bundle = read_json(finished_study / "results/models/bundle.json")
    manifest = read_tsv(finished_study / "results/data/manifest.tsv").set_index("image_id")
    lesion_run = "/".join(str(bundle["tasks"]["lesion"]["run"][k]) for k in ("experiment", "loss", "architecture", "crop"))
    run = bundle["tasks"]["lesion"]["run"]
    run_dir = finished_study / "results/runs" / lesion_run / f"{run['encoder']}-{run['pooling']}-r{run['resolution']}" / f"seed{run['seed']}"
    study = read_tsv(run_dir / "predictions.tsv")
    image_id = study.loc[(study["split"] == "test") & (study["task"] == "lesion"), "image_id"].iloc[0]
    image = _path(finished_study, manifest.loc[image_id, "path"])
    mask = manifest.loc[image_id, "mask_path"]
    predict_images(image, finished_study / "results/models", tmp_path,
                   masks_dir=_path(finished_study, mask).parent if mask else None)
    ours = read_tsv(tmp_path / "predictions.tsv").iloc[0]
    for task, spec in bundle["tasks"].items():
        r = spec["run"]
        task_dir = (finished_study / "results/runs" / r["experiment"] / r["loss"] / r["architecture"] / r["crop"]
                    / f"{r['encoder']}-{r['pooling']}-r{r['resolution']}" / f"seed{r['seed']}")
        rows = read_tsv(task_dir / "predictions.tsv")
        row = rows[(rows["image_id"] == image_id) & (rows["task"] == task)]
        if row.empty:  # e.g. no malignancy label: the study wrote no row for this task
            continue
        expected = row[[f"p_{c}" for c in spec["classes"]]].astype(float).to_numpy()[0]
        got = np.array([float(ours[f"{task}_p_{c}"]) for c in spec["classes"]])
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0, err_msg=f"{task} of {image_id}")


def test_ood_pictures_are_rejected_or_shown_accepted_with_their_label(finished_study, tmp_path):
    ood_dir = finished_study / "results/data/ood"
    out = tmp_path / "ood"
    counts = predict_images(ood_dir, finished_study / "results/models", out)
    table = read_tsv(out / "predictions.tsv")
    assert counts["found"] == counts["predicted"] + counts["bad"] == len(table) > 0
    assert any("flower" in name for name in table["image"])
    page = (out / "index.html").read_text()
    for _, row in table.iterrows():
        assert row["decision"] in ("accepted", "rejected")
        assert row["lesion_predicted"] in read_json(finished_study / "results/models/bundle.json")["tasks"]["lesion"]["classes"]
        if row["decision"] == "rejected":
            assert row["rejected_by"] in ("not_skin", "ood")
        assert row["image"] in page
    # the gate's scores are the study's own scores of the same pictures
    bundle = read_json(finished_study / "results/models/bundle.json")
    for task, spec in bundle["tasks"].items():
        if spec["temperature_status"] != "fitted":  # a T val could not identify is never applied (the flower's MEL 1.0)
            assert not [c for c in table.columns if c.startswith(f"{task}_cal_p_")]
    gate = bundle["gate"]
    g = gate["run"]
    scores = read_tsv(finished_study / "results/ood" / g["experiment"] / g["loss"] / g["architecture"] / g["crop"]
                      / f"{g['encoder']}-{g['pooling']}-r{g['resolution']}" / f"seed{g['seed']}" / "scores.tsv")
    scores = scores[(scores["head"] == gate["head"]) & (scores["detector"] == gate["detector"])]
    manifest = read_tsv(finished_study / "results/data/manifest.tsv")
    by_path = {Path(_path(finished_study, p)).resolve(): i for i, p in zip(manifest["image_id"], manifest["path"])}
    study_score = dict(zip(scores["image_id"], scores["score"].astype(float)))
    compared = 0
    for _, row in table.iterrows():
        image_id = by_path.get(Path(row["path"]).resolve())
        if image_id in study_score:
            assert float(row["ood_score"]) == pytest.approx(study_score[image_id], rel=1e-4, abs=1e-5), row["image"]
            compared += 1
    assert compared > 0


def test_the_predict_rule_writes_its_folder(finished_study):
    snakemake(finished_study, "predict", "--cores", "1", "--config", "predict={images: results/data/ood, name: ood_pictures}")
    out = finished_study / "results/predict/ood_pictures"
    counts = read_json(out / "counts.json")
    assert counts["found"] == counts["predicted"] + counts["bad"] > 0
    assert (out / "index.html").is_file() and (out / "bad_images.tsv").is_file()


def test_predict_prints_the_licence_of_each_encoders_weights(finished_study, tmp_path, capsys):
    from samderm.predict.cli import main

    bundle = read_json(finished_study / "results/models/bundle.json")
    assert {(fs["licence"], fs["gated"]) for fs in bundle["feature_sets"].values()} == {("none (random weights)", False)}
    image = sorted((finished_study / "results/data/ood").rglob("*.jpg"))[0]
    assert main(["predict", str(image), "--bundle", str(finished_study / "results/models"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for fs in bundle["feature_sets"].values():
        assert f"encoder {fs['encoder']}: weights' licence none (random weights)\n" in printed
