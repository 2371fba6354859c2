"""predict on new images equals the study's own path (store features through the heads and the gate),
from a bundle copied elsewhere; a wrong encoder file is refused; bad files are listed and counted."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from samderm.features.store import load_features
from samderm.io import read_json, read_tsv
from samderm.metrics.calibration import LOG_T_BOUND, scaled_probabilities
from samderm.ood import Mahalanobis
from samderm.predict import BundleError, load_bundle, predict_images
from samderm.predict.cli import main
from tests.predict.conftest import TASKS, study_probabilities


def _predict(study, out, source=None, **kwargs):
    return predict_images(source or study["images"], study["bundle"], out, masks_dir=study["masks"], **kwargs)


@pytest.fixture(scope="module")
def predicted(tiny_study, tmp_path_factory):
    out = tmp_path_factory.mktemp("predicted")
    counts = _predict(tiny_study, out)
    return counts, read_tsv(out / "predictions.tsv").set_index("image"), out


@pytest.mark.parametrize("task", list(TASKS))
def test_probabilities_equal_the_heads_on_the_study_features(tiny_study, predicted, task):
    _, table, _ = predicted
    expected = study_probabilities(tiny_study, task)
    got = table.loc[expected.index, expected.columns].astype(float)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=1e-6, rtol=0)
    temperature = tiny_study["temperatures"][task]
    calibrated = [c.replace("_p_", "_cal_p_") for c in expected.columns]
    if temperature is None:
        assert not set(calibrated) & set(table.columns)
    else:
        np.testing.assert_allclose(table.loc[expected.index, calibrated].astype(float).to_numpy(),
                                   scaled_probabilities(expected.to_numpy(), temperature), atol=1e-6, rtol=0)


def test_gate_scores_are_the_detector_fit_on_the_study_rows_scoring_lesion_crops(tiny_study, predicted):
    # the lesion-crop store mixes mask files and SAM2 masks: predict must crop each image the same way
    _, table, _ = predicted
    ids, features = load_features(tiny_study["stores"]["gate"])
    expected = Mahalanobis().fit(features, tiny_study["gate_labels"]).predict(features)
    got = table.loc[[f"{i}.png" for i in ids], "ood_score"].astype(float).to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_decision_follows_skin_head_then_ood_threshold(tiny_study, predicted):
    _, table, _ = predicted
    not_skin = table["skin_predicted"] == "not_skin"
    ood = table["ood_score"].astype(float) > tiny_study["threshold"]
    expected = np.where(not_skin, "not_skin", np.where(ood, "ood", ""))
    assert table["rejected_by"].tolist() == expected.tolist()
    assert (table["decision"] == np.where(expected == "", "accepted", "rejected")).all()
    assert {"accepted", "rejected"} == set(table["decision"])  # the threshold splits the tiny set


def test_bundle_copied_elsewhere_predicts_the_same(tiny_study, predicted, tmp_path):
    _, table, _ = predicted
    copy = shutil.copytree(tiny_study["bundle"], tmp_path / "elsewhere" / "models")
    moved = tmp_path / "results_gone"
    shutil.move(tiny_study["root"] / "results", moved)  # nothing of the study beside the bundle
    try:
        predict_images(tiny_study["images"], copy, tmp_path / "out", masks_dir=tiny_study["masks"])
    finally:
        shutil.move(moved, tiny_study["root"] / "results")
    again = read_tsv(tmp_path / "out" / "predictions.tsv").set_index("image")
    pd.testing.assert_frame_equal(again.drop(columns="path"), table.drop(columns="path"))


def test_encoder_file_with_another_sha256_is_refused_naming_the_file(tiny_study, tmp_path):
    other = tmp_path / "other_vit.pth"
    weights = torch.load(tiny_study["checkpoint"], weights_only=True)
    weights["head.bias"] += 1
    torch.save(weights, other)
    with pytest.raises(BundleError, match=str(other)):
        load_bundle(tiny_study["bundle"], {"vit": other})
    assert load_bundle(tiny_study["bundle"], {"vit": tiny_study["checkpoint"]}).heads


def test_random_weight_encoder_given_a_file_is_refused(tiny_study):
    with pytest.raises(BundleError, match="random weights"):
        load_bundle(tiny_study["bundle"], {"sam": tiny_study["checkpoint"]})


def test_bad_files_are_listed_with_their_reason_and_counts_reconcile(tiny_study, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(tiny_study["images"], folder)
    good = Image.open(folder / "img000.png").convert("RGB")
    good.save(folder / "whole.jpg", quality=95)
    (folder / "truncated.jpg").write_bytes((folder / "whole.jpg").read_bytes()[:400])
    (folder / "notes.jpg").write_text("not an image\n")
    good.convert("CMYK").save(folder / "cmyk.jpg")
    out = tmp_path / "out"
    counts = main(["predict", str(folder), "--study", str(tiny_study["bundle"].parent), "--out", str(out),
                   "--masks", str(tiny_study["masks"])])
    assert counts == 0
    counts = read_json(out / "counts.json")
    table = read_tsv(out / "predictions.tsv").set_index("image")
    bad = read_tsv(out / "bad_images.tsv").set_index("image")
    assert counts["found"] == 10 and counts["predicted"] == 8 and counts["bad"] == 2
    assert counts["found"] == counts["predicted"] + counts["bad"] == len(table)
    assert sorted(bad.index) == ["notes.jpg", "truncated.jpg"]
    assert "not an image" in bad.loc["notes.jpg", "reason"] and "decode" in bad.loc["truncated.jpg", "reason"]
    assert (table.loc[["notes.jpg", "truncated.jpg"], "status"] == "rejected").all()
    assert table.loc["cmyk.jpg", "decision"] in ("accepted", "rejected")
    page = (out / "index.html").read_text()
    assert "notes.jpg" in page and "cmyk.jpg" in page and (out / "thumbs" / "0.jpg").is_file()


def test_single_image_file(tiny_study, predicted, tmp_path):
    _, table, _ = predicted
    counts = _predict(tiny_study, tmp_path, source=tiny_study["images"] / "img004.png")
    one = read_tsv(tmp_path / "predictions.tsv").set_index("image")
    assert counts["found"] == 1 and list(one.index) == ["img004.png"]
    columns = [c for c in one.columns if "_p_" in c or c == "ood_score"]
    np.testing.assert_allclose(one[columns].astype(float).to_numpy(), table.loc[["img004.png"], columns].astype(float).to_numpy(),
                               atol=1e-6, rtol=0)


def test_bundle_records_why_each_temperature_is_what_it_is(tiny_study):
    tasks = read_json(tiny_study["bundle"] / "bundle.json")["tasks"]
    # the conftest gives skin and lesion a temperature (fitted) and malignancy none
    assert {t: (spec["temperature"], spec["temperature_status"]) for t, spec in tasks.items()} == {
        "skin": (1.5, "fitted"), "lesion": (0.7, "fitted"), "malignancy": (None, None)}


def test_a_temperature_val_could_not_identify_gives_no_calibrated_probabilities(tiny_study, predicted, tmp_path):
    bundle = shutil.copytree(tiny_study["bundle"], tmp_path / "models")
    content = read_json(bundle / "bundle.json")
    # skin as bundle_study writes it (T = 1 kept); lesion with the search's bound T = e^-5 left in, which
    # would push every calibrated lesion probability to exactly 0 or 1
    content["tasks"]["skin"].update(temperature=1.0, temperature_status="val_error_free")
    content["tasks"]["lesion"].update(temperature=math.exp(-LOG_T_BOUND), temperature_status="at_search_bound")
    (bundle / "bundle.json").write_text(json.dumps(content))
    predict_images(tiny_study["images"], bundle, tmp_path / "out", masks_dir=tiny_study["masks"])
    table = read_tsv(tmp_path / "out" / "predictions.tsv").set_index("image")
    assert not [c for c in table.columns if "_cal_p_" in c]
    raw = [c for c in table.columns if "_p_" in c]
    pd.testing.assert_frame_equal(table[raw], predicted[1][raw])  # the heads' own probabilities are unchanged
    lesion = table[[f"lesion_p_{c}" for c in TASKS["lesion"]]].astype(float).to_numpy()
    assert (scaled_probabilities(lesion, math.exp(-LOG_T_BOUND)).max(axis=1) == 1.0).all()  # what scaling would show
    header = (tmp_path / "out" / "predictions.tsv").read_text().splitlines()[0]
    page = (tmp_path / "out" / "index.html").read_text()
    for text in (header, page):
        assert "every validation prediction was right" in text and "NLL optimum is at the edge of the search" in text
