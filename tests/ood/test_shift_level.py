"""External test sources in the OOD step: the `shift` level (an external source's images of the study's own
classes, e.g. clinical photographs) beside far and near, reported on test only and never pooled into `all`;
external near-OOD images join the near level; the gate's end-to-end numbers on the shift images."""

import numpy as np
import pandas as pd
import pytest

from samderm.data.splits import SHIFT, external_split
from samderm.ood.end_to_end import REJECTED_NOT_SKIN, REJECTED_OOD, images_of_test_split, judge_gate
from samderm.ood.metrics import ALL_LEVELS, LEVEL_ORDER
from samderm.ood.pipeline import FeatureLookup, level_curves, level_metrics, score_run
from samderm.ood.sets import eval_rows

from .conftest import DIM, LESION_CLASSES, OOD_CONFIG, study_tables, train_head

FAST = {**OOD_CONFIG, "detectors": ["msp", "mahalanobis", "knn"]}
PAD, ISIC_TEST, PLAIN = "pad_ufes_20", "isic2019_test", "derm7pt"


def auroc_by_pairs(id_scores, ood_scores):
    """P(OOD score > ID score) + half the ties (Mann-Whitney), OOD positive."""
    diff = np.asarray(ood_scores, float)[:, None] - np.asarray(id_scores, float)[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


# --- a tiny manifest and splits table, as build_manifest and make_splits write them with external sources ---

def _tiny():
    rows = [  # image_id, source, lesion_class, category, dataset, split, ood_level
        ("l_train", "lesion", "MEL", "", "", "train", ""),
        ("l_val", "lesion", "NV", "", "", "val", ""),
        ("l_test", "lesion", "MEL", "", "", "test", ""),
        ("n_val", "not_skin", "", "pets", "", "val", ""),
        ("n_test", "not_skin", "", "pets", "", "test", ""),
        ("o_far_val", "ood", "", "dtd", "", "val", "far"),
        ("o_far_test", "ood", "", "places", "", "test", "far"),
        ("o_near_test", "ood", "", "skin_limb", "", "test", "near"),
        # a shift source (ood.shift): mapped rows are level shift, its unmapped class is near OOD
        ("p_mel", "external", "MEL", "", PAD, external_split(PAD), SHIFT),
        ("p_nv", "external", "NV", "", PAD, external_split(PAD), SHIFT),
        ("p_ack", "external", "", f"{PAD}:ACK", PAD, external_split(PAD), "near"),
        # ISIC 2019 test UNK kept as near OOD (unmapped: near_ood), its mapped rows not OOD
        ("i_unk", "external", "", f"{ISIC_TEST}:UNK", ISIC_TEST, external_split(ISIC_TEST), "near"),
        ("i_mel", "external", "MEL", "", ISIC_TEST, external_split(ISIC_TEST), ""),
        # a source not in ood.shift: no level at all, so no part of the OOD step
        ("d_nv", "external", "NV", "", PLAIN, external_split(PLAIN), ""),
    ]
    table = pd.DataFrame(rows, columns=["image_id", "source", "lesion_class", "category", "dataset", "split", "ood_level"])
    manifest = table.drop(columns=["split", "ood_level"]).assign(status="ok")
    splits = table[["image_id", "split", "ood_level"]].assign(fold=-1)
    return manifest, splits


@pytest.mark.parametrize("head", ["lesion", "skin"])
def test_external_rows_are_test_ood_of_their_level_and_never_in_distribution(head):
    manifest, splits = _tiny()
    rows = eval_rows(manifest, splits, head).set_index("image_id")
    # the shift images are test OOD of level shift, category their source's name (their manifest category is empty)
    for image_id in ("p_mel", "p_nv"):
        assert rows.loc[image_id, ["source", "split", "in_distribution", "ood_level", "category"]].tolist() == [
            "external", "test", False, SHIFT, PAD]
    # unmapped external classes kept as near OOD join the near level on test, with their {name}:{label} category
    assert rows.loc["p_ack", ["split", "in_distribution", "ood_level", "category"]].tolist() == ["test", False, "near", f"{PAD}:ACK"]
    assert rows.loc["i_unk", ["split", "in_distribution", "ood_level", "category"]].tolist() == [
        "test", False, "near", f"{ISIC_TEST}:UNK"]
    # external rows without a level are neither OOD nor in-distribution
    assert "i_mel" not in rows.index and "d_nv" not in rows.index
    # in-distribution stays the internal val/test images; nothing external is in val
    id_rows = set(rows.index[rows["in_distribution"]])
    assert id_rows == ({"l_val", "l_test"} | ({"n_val", "n_test"} if head == "skin" else set()))
    assert set(rows.index[rows["split"] == "val"]) <= {"l_val", "n_val", "o_far_val"}
    # internal OOD keeps its place
    assert rows.loc["o_far_test", ["split", "ood_level", "category"]].tolist() == ["test", "far", "places"]
    assert rows.loc["o_near_test", ["split", "ood_level"]].tolist() == ["test", "near"]


def test_a_shift_image_in_val_is_refused_it_would_tune():
    manifest, splits = _tiny()
    splits.loc[splits["image_id"] == "o_far_val", "ood_level"] = SHIFT
    with pytest.raises(ValueError, match=r"OOD level 'shift' are in split\(s\) \['val'\]"):
        eval_rows(manifest, splits, "lesion")
    manifest, splits = _tiny()
    splits.loc[splits["image_id"] == "p_mel", "split"] = "val"  # an external image moved to val
    with pytest.raises(ValueError, match="must be in an external:"):
        eval_rows(manifest, splits, "lesion")


def test_an_external_image_outside_the_external_splits_is_refused():
    manifest, splits = _tiny()
    splits.loc[splits["image_id"] == "i_unk", "split"] = "val"
    with pytest.raises(ValueError, match="must be in an external:"):
        eval_rows(manifest, splits, "lesion")


def test_the_end_to_end_test_images_take_the_external_ood_rows():
    manifest, splits = _tiny()
    images = images_of_test_split(manifest, splits, LESION_CLASSES).set_index("image_id")
    assert sorted(images.index) == sorted(["l_test", "n_test", "o_far_test", "o_near_test", "p_mel", "p_nv", "p_ack", "i_unk"])
    assert images.loc["p_nv", ["source", "category", "ood_level", "split", "lesion_class"]].tolist() == [
        "external", PAD, SHIFT, "test", "NV"]
    assert images.loc["i_unk", ["category", "ood_level"]].tolist() == [f"{ISIC_TEST}:UNK", "near"]


# --- the levels in the metrics ---

def test_shift_is_a_level_of_its_own_between_near_and_all():
    assert LEVEL_ORDER == ("far", "near", SHIFT, ALL_LEVELS)


def test_all_pools_far_and_near_but_never_shift():
    ids, far, near, shift = [0.1, 0.4, 0.35], [0.8, 0.2], [0.9, 0.4, 0.3], [0.05, 0.38]
    scores = np.array(ids + far + near + shift)
    level = np.array([""] * 3 + ["far"] * 2 + ["near"] * 3 + [SHIFT] * 2)
    table = level_metrics(scores, level)
    auroc = table[table["metric"] == "auroc"].set_index("ood_level")
    assert list(auroc.index) == ["far", "near", SHIFT, "all"]
    # shift: 0.05 beats no in-distribution score, 0.38 beats 0.1 and 0.35 -> 2/6
    assert auroc.loc[SHIFT, "value"] == pytest.approx(2 / 6)
    assert auroc.loc[SHIFT, ["n_id", "n_ood"]].tolist() == [3, 2]
    # all = far + near: 0.8 (3), 0.2 (1), 0.9 (3), 0.4 (2 + a tie), 0.3 (1) -> 10.5/15; with shift pooled: 12.5/21
    assert auroc.loc["all", "value"] == pytest.approx(10.5 / 15) == pytest.approx(auroc_by_pairs(ids, far + near))
    assert auroc.loc["all", "n_ood"] == 5
    # and exactly the table without the shift images, level by level
    without = level_metrics(scores[level != SHIFT], level[level != SHIFT])
    pd.testing.assert_frame_equal(table[table["ood_level"] != SHIFT].reset_index(drop=True), without)


def test_the_all_curves_leave_shift_out():
    ids, far, shift = [0.1, 0.4, 0.35], [0.8, 0.2], [0.05, 0.38]
    scores, level = np.array(ids + far + shift), np.array([""] * 3 + ["far"] * 2 + [SHIFT] * 2)
    curves = level_curves(scores, level)
    assert list(dict.fromkeys(curves["ood_level"])) == ["far", SHIFT, "all"]
    roc = curves[(curves["ood_level"] == "all") & (curves["curve"] == "roc")]
    assert np.trapezoid(roc["y"], roc["x"]) == pytest.approx(4 / 6)  # far alone: 0.8 beats 3, 0.2 beats 1
    shift_roc = curves[(curves["ood_level"] == SHIFT) & (curves["curve"] == "roc")]
    assert np.trapezoid(shift_roc["y"], shift_roc["x"]) == pytest.approx(2 / 6)


def test_shift_alone_has_no_all_row():
    table = level_metrics(np.array([0.1, 0.2, 0.9]), np.array(["", "", SHIFT]))
    assert set(table["ood_level"]) == {SHIFT}


# --- the gate end to end on the shift images, counted by hand ---

def _judged():
    """7 shift images of one source, 2 in-distribution lesions, 1 far OOD image, threshold 1.0."""
    shift = pd.DataFrame({
        "image_id": [f"s{i}" for i in range(7)],
        "lesion_class":     ["MEL", "MEL", "MEL", "NV", "NV", "DF", "DF"],
        "skin_predicted":   ["skin"] * 3 + ["skin", "not_skin", "skin", "skin"],
        "lesion_predicted": ["MEL", "MEL", "NV", "NV", "NV", "MEL", "DF"],
        "score":            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 3.0],
    }).assign(source="external", category=PAD, ood_level=SHIFT)
    # s4 is called not_skin, s6 is above the threshold: accepted s0 MEL->MEL, s1 MEL->MEL, s2 MEL->NV, s3 NV->NV, s5 DF->MEL
    lesions = pd.DataFrame({"image_id": ["l0", "l1"], "lesion_class": ["MEL", "NV"], "skin_predicted": "skin",
                            "lesion_predicted": ["MEL", "MEL"], "score": [0.0, 0.0]}).assign(source="lesion", category="", ood_level="")
    far = pd.DataFrame({"image_id": ["o0"], "lesion_class": [""], "skin_predicted": "skin", "lesion_predicted": ["NV"],
                        "score": [0.5]}).assign(source="ood", category="dtd", ood_level="far")
    images = pd.concat([shift, lesions, far], ignore_index=True).assign(split="test", lesion_probability=0.9)
    return judge_gate(images.drop(columns="score"), images["score"].to_numpy(), 1.0, ["MEL", "NV", "DF"])


def test_the_gate_lets_through_five_of_seven_shift_images():
    table = _judged()["end_to_end"]
    shift = table[table["ood_level"] == SHIFT].set_index("outcome")
    assert set(shift["source"]) == {"external"} and set(shift["category"]) == {PAD} and set(shift["n_group"]) == {7}
    assert shift["n"].to_dict() == {REJECTED_NOT_SKIN: 1, REJECTED_OOD: 1, "MEL": 3, "NV": 2, "DF": 0}
    assert 1 - shift.loc[[REJECTED_NOT_SKIN, REJECTED_OOD], "fraction"].sum() == pytest.approx(5 / 7)
    assert shift.loc["MEL", "fraction"] == pytest.approx(3 / 7) and shift.loc["NV", "fraction"] == pytest.approx(2 / 7)


def test_the_accepted_shift_images_are_scored_against_their_mapped_labels():
    table = _judged()["end_to_end"]
    by_group = table.drop_duplicates(["source", "category", "ood_level"]).set_index("source")
    # accepted: MEL->MEL, MEL->MEL, MEL->NV, NV->NV, DF->MEL: 3 of 5 right; per class MEL 2/3, NV 1/1, DF 0/1
    assert by_group.loc["external", "accuracy_accepted"] == pytest.approx(3 / 5)
    assert by_group.loc["external", "balanced_accuracy_accepted"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    # the same numbers repeat on every outcome row of the group
    shift = table[table["ood_level"] == SHIFT]
    assert shift["accuracy_accepted"].nunique() == 1 and shift["balanced_accuracy_accepted"].nunique() == 1
    # in-distribution lesions: MEL->MEL right, NV->MEL wrong; per class 1 and 0
    assert by_group.loc["lesion", ["accuracy_accepted", "balanced_accuracy_accepted"]].tolist() == [0.5, 0.5]
    # OOD images have no label to be right about
    assert np.isnan(by_group.loc["ood", "accuracy_accepted"]) and np.isnan(by_group.loc["ood", "balanced_accuracy_accepted"])


def test_the_in_distribution_lesion_tables_ignore_the_shift_images():
    judged = _judged()
    rejection = judged["class_rejection"].set_index("lesion_class")
    assert rejection["n_test"].to_dict() == {"MEL": 1, "NV": 1, "DF": 0}
    assert judged["risk_coverage"]["n_accepted"].max() == 2


# --- the OOD step of a run with external sources ---

def _with_external(seed=0):
    """study_tables with OOD levels and categories, plus a shift source (12 test images of the lesion classes,
    darker: every feature scaled by 0.7), 4 of its unmapped images kept as near OOD and 3 of a source that is
    no OOD (no level)."""
    manifest, splits, views, view_ids, features = study_tables(seed)
    ood = splits["image_id"].str.startswith("ood_")
    near = ood & (splits["image_id"].str[-1].astype(int) % 2 == 0)
    splits = splits.assign(ood_level=np.where(near, "near", np.where(ood, "far", "")))
    manifest = manifest.assign(category=np.where(manifest["source"] == "ood", "textures", np.where(
        manifest["source"] == "not_skin", "pets", "")), dataset="")
    rng = np.random.default_rng(seed + 10)
    extra, extra_x = [], []
    for i in range(12):
        cls = LESION_CLASSES[i % 4]
        centre = np.zeros(DIM)
        centre[LESION_CLASSES.index(cls)] = 6.0
        extra.append((f"pad_{i:02d}", cls, "", PAD, SHIFT))
        extra_x.append(0.7 * (centre + rng.normal(size=DIM)))
    for i in range(4):
        extra.append((f"pad_ack_{i}", "", f"{PAD}:ACK", PAD, "near"))
        extra_x.append(0.5 * rng.normal(size=DIM))
    for i in range(3):
        extra.append((f"plain_{i}", LESION_CLASSES[i], "", PLAIN, ""))
        extra_x.append(rng.normal(size=DIM))
    extra = pd.DataFrame(extra, columns=["image_id", "lesion_class", "category", "dataset", "ood_level"])
    manifest_x = pd.concat([manifest, extra.drop(columns="ood_level").assign(
        source="external", path=extra["image_id"] + ".jpg", malignancy="", lesion_id="solo_" + extra["image_id"],
        status="ok", reason="")], ignore_index=True)
    splits_x = pd.concat([splits, extra[["image_id", "ood_level"]].assign(
        split=extra["dataset"].map(external_split), fold=-1, ood_protocol="")], ignore_index=True)
    lookup_x = FeatureLookup(view_ids + extra["image_id"].tolist(), np.vstack([features, np.asarray(extra_x, np.float32)]), "store")
    model = train_head(manifest, views, view_ids, features, seed)
    return (manifest, splits, views, FeatureLookup(view_ids, features, "store"), model), (manifest_x, splits_x, lookup_x)


@pytest.fixture(scope="module")
def runs():
    (manifest, splits, views, lookup, model), (manifest_x, splits_x, lookup_x) = _with_external()
    return (score_run(model, manifest, splits, views, lookup, FAST),
            score_run(model, manifest_x, splits_x, views, lookup_x, FAST), manifest_x)


def test_shift_gets_its_own_metrics_rows_and_all_is_unchanged(runs):
    before, after, _ = runs
    metrics = after["metrics"]
    shift = metrics[metrics["ood_level"] == SHIFT]
    assert len(shift) == 2 * len(FAST["detectors"]) * 5 and set(shift["n_ood"]) == {12}
    assert list(dict.fromkeys(metrics["ood_level"])) == ["far", "near", SHIFT, "all"]
    # far and all are exactly as without the external sources; near gains the 4 unmapped images, all too
    keys = ["head", "detector", "metric"]
    for level, extra in (("far", 0), ("near", 4), ("all", 4)):
        old = before["metrics"][before["metrics"]["ood_level"] == level].set_index(keys)
        new = metrics[metrics["ood_level"] == level].set_index(keys)
        assert (new["n_ood"] == old["n_ood"] + extra).all() and (new["n_id"] == old["n_id"]).all(), level
        if not extra:
            pd.testing.assert_series_equal(new["value"], old["value"])


def test_all_is_the_pool_of_far_and_near_not_of_shift(runs):
    _, after, _ = runs
    scores = after["scores"]
    test = scores[(scores["split"] == "test") & (scores["head"] == "lesion") & (scores["detector"] == "mahalanobis")]
    ids = test.loc[test["in_distribution"] == 1, "score"]
    semantic = test.loc[test["ood_level"].isin(["far", "near"]), "score"]
    got = after["metrics"].set_index(["head", "detector", "ood_level", "metric"])["value"]
    assert got["lesion", "mahalanobis", "all", "auroc"] == pytest.approx(auroc_by_pairs(ids, semantic))
    assert got["lesion", "mahalanobis", SHIFT, "auroc"] == pytest.approx(
        auroc_by_pairs(ids, test.loc[test["ood_level"] == SHIFT, "score"]))


def test_external_images_never_tune_and_are_scored_on_test_only(runs):
    before, after, _ = runs
    pd.testing.assert_frame_equal(after["tuning"], before["tuning"])
    scores = after["scores"]
    external = scores[scores["source"] == "external"]
    assert set(external["split"]) == {"test"} and (external["in_distribution"] == 0).all()
    assert not external["image_id"].str.startswith("plain_").any()  # no level: not in the OOD step
    assert set(external.loc[external["ood_level"] == SHIFT, "category"]) == {PAD}
    assert set(external.loc[external["ood_level"] == "near", "category"]) == {f"{PAD}:ACK"}
    # in-distribution is unchanged: the same internal images
    assert set(scores.loc[scores["in_distribution"] == 1, "image_id"]) == set(
        before["scores"].loc[before["scores"]["in_distribution"] == 1, "image_id"])


def test_the_gate_table_keeps_shift_apart_from_ood(runs):
    before, after, _ = runs
    gate = after["gate"].set_index(["head", "detector", "population", "predicted"])
    old = before["gate"].set_index(["head", "detector", "population", "predicted"])
    assert set(after["gate"]["population"]) == {"ood", "lesion", SHIFT}
    assert set(gate.xs(SHIFT, level="population")["n_population"]) == {12}
    # the ood population gains the 4 unmapped images only
    assert (gate.xs("ood", level="population")["n_population"] == old.xs("ood", level="population")["n_population"] + 4).all()


def test_the_end_to_end_table_has_the_shift_source(runs):
    _, after, manifest = runs
    table, images = after["end_to_end"], after["end_to_end_images"]
    shift = table[(table["ood_level"] == SHIFT) & (table["head"] == "lesion")]
    assert set(shift["source"]) == {"external"} and set(shift["category"]) == {PAD} and set(shift["n_group"]) == {12}
    assert not images["image_id"].str.startswith("plain_").any()
    for detector, rows in shift.groupby("detector"):
        mine = images[(images["head"] == "lesion") & (images["detector"] == detector) & (images["ood_level"] == SHIFT)]
        assert len(mine) == 12 and set(mine["split"]) == {"test"}
        accepted = mine[~mine["outcome"].isin([REJECTED_NOT_SKIN, REJECTED_OOD])]
        labels = manifest.set_index("image_id").loc[accepted["image_id"], "lesion_class"].to_numpy()
        right = accepted["outcome"].to_numpy() == labels
        if len(accepted):
            assert rows["accuracy_accepted"].iloc[0] == pytest.approx(right.mean())
            per_class = [right[labels == c].mean() for c in sorted(set(labels))]
            assert rows["balanced_accuracy_accepted"].iloc[0] == pytest.approx(np.mean(per_class))
        counts = rows.set_index("outcome")["n"]
        for cls in LESION_CLASSES:
            assert counts[cls] == (accepted["outcome"] == cls).sum()


# --- the report's readers of these files keep shift apart too ---

def test_the_report_intervals_pool_far_and_near_into_all_but_not_shift(tmp_path):
    from samderm.io import write_tsv
    from samderm.report.ood_intervals import bootstrap_ood

    ids, far, near, shift = [0.1, 0.4, 0.35, 0.2], [0.8, 0.3], [0.9, 0.15], [0.05, 0.12, 0.38]
    level = [""] * 4 + ["far"] * 2 + ["near"] * 2 + [SHIFT] * 3
    image_ids = [f"img{i:02d}" for i in range(len(level))]
    rows = []
    for detector, sign in (("msp", 1.0), ("energy", -1.0)):
        rows += [{"image_id": i, "source": "external" if lv == SHIFT else ("ood" if lv else "lesion"), "split": "test",
                  "in_distribution": int(lv == ""), "head": "lesion", "detector": detector, "score": sign * s,
                  "category": "", "ood_level": lv} for i, lv, s in zip(image_ids, level, ids + far + near + shift)]
    ood_dir = tmp_path / "ood/exp1/wce/parallel/full/tiny-mean-r256/seed0"
    write_tsv(pd.DataFrame(rows), ood_dir / "scores.tsv")
    write_tsv(pd.DataFrame({"image_id": image_ids, "group_id": image_ids}), tmp_path / "manifest.tsv")
    table = bootstrap_ood([ood_dir], tmp_path / "manifest.tsv", tmp_path / "intervals.tsv", 50, 0.95, 0, "msp")
    msp = table[(table["detector"] == "msp") & (table["metric"] == "auroc")].set_index("ood_level")
    assert list(msp.index) == ["far", "near", SHIFT, "all"]
    # all: far + near against the 4 in-distribution scores: 0.8 (4), 0.3 (2), 0.9 (4), 0.15 (1) -> 11/16
    # (with shift pooled it would be 15/28); shift: 0.05 (0), 0.12 (1), 0.38 (3) -> 4/12
    assert msp.loc["all", "mean"] == pytest.approx(11 / 16) == pytest.approx(auroc_by_pairs(ids, far + near))
    assert msp.loc["all", "n_images"] == 8 and msp.loc[SHIFT, "n_images"] == 7
    assert msp.loc[SHIFT, "mean"] == pytest.approx(4 / 12)


def test_the_report_end_to_end_totals_never_pool_shift():
    from samderm.report.gate_report import end_to_end_table

    rows = [("ood", "dtd", "far", REJECTED_OOD, 6), ("ood", "skin_limb", "near", "MEL", 3),
            ("external", PAD, SHIFT, "MEL", 5), ("external", PAD, SHIFT, REJECTED_OOD, 1),
            ("external", "derm7pt", SHIFT, "NV", 2), ("external", f"{PAD}:ACK", "near", REJECTED_OOD, 4),
            ("external", f"{ISIC_TEST}:UNK", "near", "NV", 1)]
    counts = pd.DataFrame(rows, columns=["source", "category", "ood_level", "outcome", "n"]).assign(detector="knn")
    counts["accuracy_accepted"] = np.where(counts["ood_level"] == SHIFT, np.where(counts["category"] == PAD, 0.6, 0.5), np.nan)
    counts["balanced_accuracy_accepted"] = counts["accuracy_accepted"] / 2
    table = end_to_end_table(counts, pd.Series({"knn": 0.8}), ["MEL", "NV"]).set_index(["source", "category", "ood_level"])
    assert table.index.tolist() == [
        ("ood", "dtd", "far"), ("ood", "skin_limb", "near"), ("ood", "(all)", "all"),
        ("external", f"{ISIC_TEST}:UNK", "near"), ("external", f"{PAD}:ACK", "near"), ("external", "(all)", "near"),
        ("external", "derm7pt", SHIFT), ("external", PAD, SHIFT), ("external", "(all)", SHIFT)]
    # the external source has one semantic level: its near total, no `all` mixing in the 8 shift images
    assert table.loc[("external", "(all)", "near"), ["n", REJECTED_OOD, "NV"]].tolist() == [5, 4, 1]
    assert table.loc[("external", "(all)", SHIFT), ["n", REJECTED_OOD, "MEL", "NV"]].tolist() == [8, 1, 5, 2]
    assert table.loc[("external", "(all)", SHIFT), "accepted"] == pytest.approx(7 / 8)
    assert table.loc[("external", PAD, SHIFT), ["accuracy_accepted", "balanced_accuracy_accepted"]].tolist() == [0.6, 0.3]
    assert np.isnan(table.loc[("external", "(all)", SHIFT), "accuracy_accepted"])
