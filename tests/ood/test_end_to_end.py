"""The gate judged end to end (samderm.ood.end_to_end) on hand-made images whose outcomes are known."""

import numpy as np
import pandas as pd
import pytest

from samderm.ood.end_to_end import (REJECTED_NOT_SKIN, REJECTED_OOD, ReconcileError, aurc, check_reconciles,
                                    class_rejection, gate_head, images_of_test_split, judge_gate, outcome_table,
                                    outcomes, risk_coverage)
from samderm.ood.gate import gate_threshold

CLASSES = ["MEL", "NV", "DF"]


def test_skin_head_first_then_the_detector_with_ties_accepted():
    skin = np.array(["not_skin", "not_skin", "skin", "skin", "skin"])
    scores = np.array([9.0, 0.0, 9.0, 1.0, 0.5])
    lesion = np.array(["NV", "MEL", "NV", "MEL", "DF"])
    got = outcomes(skin, scores, 1.0, lesion)
    # a not_skin-called image is never counted as OOD-rejected, whatever its score; a score equal to
    # the threshold is accepted (score > threshold rejects, as in samderm.ood.gate)
    assert got.tolist() == [REJECTED_NOT_SKIN, REJECTED_NOT_SKIN, REJECTED_OOD, "MEL", "DF"]


def test_threshold_convention_matches_the_gate():
    # the val-chosen threshold is itself a val score: that image is accepted, the next one up is not
    val = np.array([0.1, 0.2, 0.3, 0.4])
    threshold = gate_threshold(val, 0.75)
    assert threshold == 0.3
    got = outcomes(np.full(3, "skin"), np.array([0.3, np.nextafter(0.3, 1), 0.29]), threshold, np.full(3, "NV"))
    assert got.tolist() == ["NV", REJECTED_OOD, "NV"]


def _images():
    """Two lesions, one not_skin, three OOD images in two categories."""
    return pd.DataFrame({
        "image_id": ["l1", "l2", "n1", "o1", "o2", "o3"],
        "source": ["lesion", "lesion", "not_skin", "ood", "ood", "ood"],
        "category": ["", "", "pets", "dtd", "dtd", "places"],
        "ood_level": ["", "", "", "far", "far", "far"],
        "split": "test",
        "lesion_class": ["MEL", "NV", "", "", "", ""],
        "skin_predicted": ["skin", "skin", "not_skin", "skin", "skin", "not_skin"],
        "lesion_predicted": ["MEL", "MEL", "NV", "MEL", "NV", "NV"],
        "lesion_probability": 0.9,
    })


def test_every_test_image_is_counted_once_per_group():
    images = _images()
    scores = np.array([0.0, 2.0, 0.0, 0.0, 5.0, 5.0])
    table = outcome_table(images, outcomes(images["skin_predicted"], scores, 1.0, images["lesion_predicted"]), CLASSES)
    assert len(table) == 4 * (2 + len(CLASSES))  # every outcome of every group, zeros included
    n = table.set_index(["source", "category", "outcome"])["n"]
    assert n["ood", "dtd", "MEL"] == 1 and n["ood", "dtd", REJECTED_OOD] == 1
    assert n["ood", "places", REJECTED_NOT_SKIN] == 1 and n["ood", "places", REJECTED_OOD] == 0
    assert n["lesion", "", "MEL"] == 1 and n["lesion", "", REJECTED_OOD] == 1
    assert n["not_skin", "pets", REJECTED_NOT_SKIN] == 1
    assert table.groupby(["source", "category"])["n"].sum().to_dict() == {
        ("lesion", ""): 2, ("not_skin", "pets"): 1, ("ood", "dtd"): 2, ("ood", "places"): 1}
    assert table.groupby(["source", "category"])["fraction"].sum().eq(1).all()


def test_counts_that_do_not_reconcile_are_refused():
    images = _images()
    table = outcome_table(images, np.array(["MEL"] * 6, object), CLASSES)
    check_reconciles(images, table)
    lost = table.copy()
    lost.loc[0, "n"] -= 1  # an image counted nowhere
    with pytest.raises(ReconcileError, match="do not match the test images"):
        check_reconciles(images, lost)
    moved = table.copy()
    moved.loc[0, "n"] -= 1  # one image counted in another group: the total still matches
    moved.loc[len(moved) - 1, "n"] += 1
    with pytest.raises(ReconcileError, match="do not match the test images"):
        check_reconciles(images, moved)
    with pytest.raises(ReconcileError, match="listed twice.*'l1'"):
        twice = pd.concat([images, images.iloc[:1]], ignore_index=True)
        check_reconciles(twice, outcome_table(twice, np.array(["MEL"] * 7, object), CLASSES))


def test_class_rejection_reports_every_class_with_its_stage():
    true = np.array(["MEL", "MEL", "MEL", "MEL", "NV"])  # NV has one test image, DF none
    got = np.array([REJECTED_NOT_SKIN, REJECTED_OOD, "MEL", "NV", REJECTED_OOD])
    table = class_rejection(true, got, CLASSES).set_index("lesion_class")
    assert table.index.tolist() == CLASSES
    mel, nv, df = table.loc["MEL"], table.loc["NV"], table.loc["DF"]
    assert (mel["n_test"], mel[REJECTED_NOT_SKIN], mel[REJECTED_OOD], mel["accepted"], mel["accepted_correct"]) == (4, 1, 1, 2, 1)
    assert mel["rejected_fraction"] == 0.5 and mel["accuracy_accepted"] == 0.5
    # the single NV image is rejected by the detector: its class pays 100%
    assert (nv["n_test"], nv[REJECTED_OOD], nv["accepted"], nv["rejected_fraction"], nv["ood_fraction"]) == (1, 1, 0, 1.0, 1.0)
    assert np.isnan(nv["accuracy_accepted"]) and nv["not_skin_fraction"] == 0.0
    assert df["n_test"] == 0 and np.isnan(df["rejected_fraction"])
    with pytest.raises(ReconcileError, match="1 in-distribution test lesion"):
        class_rejection(np.array(["MEL", "SCC"]), np.array(["MEL", "MEL"]), CLASSES)


def test_risk_coverage_by_hand_with_a_tie():
    # accepted by score <= t: t=0.1 -> {a}, t=0.2 -> {a, b, c} (b and c tie), t=0.5 -> all
    curve = risk_coverage(np.array([0.2, 0.1, 0.5, 0.2]), np.array([False, True, False, True]))
    assert curve["max_score"].tolist() == [0.1, 0.2, 0.5]
    assert curve["coverage"].tolist() == [0.25, 0.75, 1.0]
    assert curve["risk"].tolist() == pytest.approx([0.0, 1 / 3, 0.5])
    assert curve["n_accepted"].tolist() == [1, 3, 4] and curve["n_errors"].tolist() == [0, 1, 2]
    assert curve["aurc"].iloc[0] == pytest.approx(0.0 * 0.25 + (1 / 3) * 0.5 + 0.5 * 0.25)


def test_aurc_without_ties_is_the_mean_risk_over_coverages():
    # Geifman et al. 2019: AURC = (1/n) sum_k risk of the k most confident (lowest score) images
    rng = np.random.default_rng(0)
    scores, correct = rng.normal(size=50), rng.random(50) < 0.7
    order = np.argsort(scores)
    by_hand = np.mean([np.mean(~correct[order[:k]]) for k in range(1, 51)])
    curve = risk_coverage(scores, correct)
    assert len(curve) == 50 and curve["aurc"].iloc[0] == pytest.approx(by_hand)
    assert aurc(curve["coverage"], curve["risk"]) == pytest.approx(by_hand)
    # a score that ranks errors last gives the lowest area; the reverse the highest
    assert risk_coverage((~correct).astype(float) + 1e-3 * scores, correct)["aurc"].iloc[0] < by_hand
    assert risk_coverage(correct.astype(float) + 1e-3 * scores, correct)["aurc"].iloc[0] > by_hand


def test_test_images_take_category_and_make_held_out_classes_ood():
    manifest = pd.DataFrame({
        "image_id": ["l1", "l2", "n1", "o1", "u1"],
        "source": ["lesion", "lesion", "not_skin", "ood", "unlabeled"],
        "category": ["", "", "pets", "dtd", ""],
        "lesion_class": ["MEL", "VASC", "", "", ""],
    })
    splits = pd.DataFrame({"image_id": ["l1", "l2", "n1", "o1", "u1", "x"], "split": ["test"] * 5 + ["val"]})
    images = images_of_test_split(manifest, splits, ["MEL", "NV"]).set_index("image_id")
    assert images.index.tolist() == ["l1", "l2", "n1", "o1"]  # sources outside the gate are left out
    assert images.loc["l2", "source"] == "ood" and images.loc["l2", "category"] == "held_out:VASC"
    assert images.loc["n1", "category"] == "pets" and images.loc["l2", "ood_level"] == "near"
    assert (images.loc[["l1", "n1", "o1"], "ood_level"] == "").all()  # a splits table without levels
    levels = splits.assign(ood_level=["", "", "", "far", "", ""])
    with_level = images_of_test_split(manifest, levels, ["MEL", "VASC"])
    assert with_level.set_index("image_id")["ood_level"].to_dict() == {"l1": "", "l2": "", "n1": "", "o1": "far"}


def test_judge_gate_joins_the_stages():
    images = _images()
    judged = judge_gate(images, np.array([0.0, 2.0, 0.0, 0.0, 5.0, 5.0]), 1.0, CLASSES)
    assert judged["end_to_end_images"]["outcome"].tolist() == ["MEL", REJECTED_OOD, REJECTED_NOT_SKIN, "MEL",
                                                               REJECTED_OOD, REJECTED_NOT_SKIN]
    rejection = judged["class_rejection"].set_index("lesion_class")
    assert rejection.loc["NV", REJECTED_OOD] == 1 and rejection.loc["MEL", "accepted_correct"] == 1
    # the curve covers the lesions only: l1 (score 0, correct) then l2 (score 2, called MEL but NV)
    assert judged["risk_coverage"]["risk"].tolist() == [0.0, 0.5]


def test_the_lesion_head_gates():
    assert gate_head(["skin", "lesion"]) == "lesion" and gate_head(["skin"]) == "skin"
    with pytest.raises(ValueError, match="ood.heads is empty"):
        gate_head([])
