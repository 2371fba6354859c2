"""OOD difficulty levels (far, near, all) in the metrics, and the held-out lesion class protocol in
the OOD step: the held-out class is near OOD, reported on test and never used for tuning."""

import numpy as np
import pandas as pd
import pytest

from samderm.ood.pipeline import FeatureLookup, level_curves, level_metrics, score_run
from samderm.ood.sets import fit_rows

from .conftest import LESION_CLASSES, OOD_CONFIG, study_tables, train_head

HELD_OUT = "AK"
KNOWN = [c for c in LESION_CLASSES if c != HELD_OUT]
FAST = {**OOD_CONFIG, "detectors": ["msp", "mahalanobis", "knn"]}


def auroc_by_pairs(id_scores, ood_scores):
    """P(OOD score > ID score) + half the ties (Mann-Whitney), OOD positive."""
    diff = np.asarray(ood_scores, float)[:, None] - np.asarray(id_scores, float)[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_level_metrics_against_auroc_counted_by_hand():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.4, 0.3])
    level = np.array(["", "", "", "far", "far", "near", "near", "near"])
    table = level_metrics(scores, level)
    auroc = table[table["metric"] == "auroc"].set_index("ood_level")
    assert list(auroc.index) == ["far", "near", "all"]
    ids = [0.1, 0.4, 0.35]
    # far: 0.8 beats all three, 0.2 beats one -> 4/6; near: 0.9 (3), 0.4 (2 + a tie), 0.3 (1) -> 6.5/9
    assert auroc.loc["far", "value"] == pytest.approx(4 / 6) == pytest.approx(auroc_by_pairs(ids, [0.8, 0.2]))
    assert auroc.loc["near", "value"] == pytest.approx(6.5 / 9) == pytest.approx(auroc_by_pairs(ids, [0.9, 0.4, 0.3]))
    assert auroc.loc["all", "value"] == pytest.approx(auroc_by_pairs(ids, [0.8, 0.2, 0.9, 0.4, 0.3]))
    assert auroc["n_ood"].tolist() == [2, 3, 5] and set(auroc["n_id"]) == {3}


def test_each_levels_roc_curve_encloses_its_auroc_counted_by_hand():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.4, 0.3])
    level = np.array(["", "", "", "far", "far", "near", "near", "near"])
    curves = level_curves(scores, level)
    ids = [0.1, 0.4, 0.35]
    for name, ood in (("far", [0.8, 0.2]), ("near", [0.9, 0.4, 0.3]), ("all", [0.8, 0.2, 0.9, 0.4, 0.3])):
        roc = curves[(curves["ood_level"] == name) & (curves["curve"] == "roc")]
        # the area under the points by the trapezoidal rule (a tie is a diagonal step: half its pairs)
        assert np.trapezoid(roc["y"], roc["x"]) == pytest.approx(auroc_by_pairs(ids, ood)), name
        pr = curves[(curves["ood_level"] == name) & (curves["curve"] == "pr")]
        # full recall first reached at the level's lowest OOD score: its OOD images among all flagged there
        flagged = sum(x >= min(ood) for x in ids + ood)
        assert pr.loc[pr["x"] == 1, "y"].max() == pytest.approx(len(ood) / flagged), name


def test_a_level_without_test_images_has_no_rows():
    table = level_metrics(np.array([0.1, 0.2, 0.9]), np.array(["", "", "far"]))
    assert set(table["ood_level"]) == {"far", "all"}


@pytest.fixture(scope="module")
def held_out_study():
    manifest, splits, views, view_ids, features = study_tables()
    # half of the category OOD is near (as data.ood_levels would put it in splits.tsv)
    ood = splits["image_id"].str.startswith("ood_")
    splits = splits.assign(ood_level=np.where(ood, np.where(splits["image_id"].str[-1].astype(int) % 2 == 0, "near", "far"), ""))
    model = train_head(manifest, views, view_ids, features, classes=KNOWN)
    return manifest, splits, views, FeatureLookup(view_ids, features, "store"), model


def test_the_held_out_class_is_near_ood_of_every_head(held_out_study):
    manifest, splits, views, lookup, model = held_out_study
    tables = score_run(model, manifest, splits, views, lookup, FAST, held_out_classes=[HELD_OUT])
    scores = tables["scores"].merge(manifest[["image_id", "lesion_class"]], on="image_id")
    held = scores[scores["lesion_class"] == HELD_OUT]
    assert len(held) and set(held["split"]) == {"val", "test"} and set(held["head"]) == {"skin", "lesion"}
    assert (held["in_distribution"] == 0).all() and set(held["category"]) == {"held_out:AK"}
    assert set(held["ood_level"]) == {"near"}
    known = scores[(scores["source"] == "lesion") & (scores["lesion_class"] != HELD_OUT)]
    assert (known["in_distribution"] == 1).all() and set(known["ood_level"]) == {""}

    metrics = tables["metrics"].set_index(["head", "detector", "ood_level", "metric"])
    n_held_test = int(((held["split"] == "test") & (held["head"] == "lesion") & (held["detector"] == "msp")).sum())
    n_near_category = int(((splits["ood_level"] == "near") & splits["image_id"].str.startswith("ood_test")).sum())
    near = metrics.loc[("lesion", "mahalanobis", "near", "auroc")]
    assert near["n_ood"] == n_held_test + n_near_category and metrics.loc[("lesion", "msp", "all", "auroc")]["n_ood"] == n_held_test + 20
    # the held-out class lies off every known class in feature space: Mahalanobis sees it
    assert near["value"] > 0.9
    # the gate's in-distribution lesion population is the known classes only
    gate = tables["gate"]
    lesion = gate[(gate["population"] == "lesion") & (gate["head"] == "lesion") & (gate["detector"] == "msp")]
    assert lesion["n_without_gate"].sum() == int(((known["split"] == "test") & (known["head"] == "lesion") & (known["detector"] == "msp")).sum())


def test_held_out_val_images_never_tune(held_out_study):
    manifest, splits, views, lookup, model = held_out_study
    tables = score_run(model, manifest, splits, views, lookup, FAST, held_out_classes=[HELD_OUT])
    assert set(tables["tuning"]["n_val_ood"]) == {20}  # the category OOD of val, not the held-out class
    held_val = manifest.loc[(manifest["lesion_class"] == HELD_OUT), "image_id"]
    without = splits[~(splits["image_id"].isin(held_val) & (splits["split"] == "val"))]
    pd.testing.assert_frame_equal(score_run(model, manifest, without, views, lookup, FAST,
                                            held_out_classes=[HELD_OUT])["tuning"], tables["tuning"])


def test_detectors_are_fit_without_the_held_out_class(held_out_study):
    manifest, _, views, _, _ = held_out_study
    for head, classes in (("lesion", KNOWN), ("skin", ["not_skin", "skin"])):
        rows = fit_rows(manifest, views, head, classes, held_out_classes=[HELD_OUT])
        assert HELD_OUT not in set(rows["lesion_class"]) and len(rows)
    with pytest.raises(ValueError, match="class the head does not know"):
        fit_rows(manifest, views, "lesion", KNOWN)


def test_a_held_out_class_the_model_predicts_is_an_error(held_out_study):
    manifest, splits, views, lookup, _ = held_out_study
    full = train_head(manifest, views, lookup.row and list(lookup.row), lookup.features)
    with pytest.raises(ValueError, match=r"held_out_classes \['AK'\] are outputs of the model's lesion head"):
        score_run(full, manifest, splits, views, lookup, FAST, held_out_classes=[HELD_OUT])
