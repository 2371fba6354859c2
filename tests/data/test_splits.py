"""Splits: no lesion crosses splits, classes are stratified and in every split when they have
enough groups, the same seed gives the same split."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from samderm.data.splits import SPLITS, grouped_stratified_split, make_splits

CFG = {"seed": 0, "fractions": {"train": 0.7, "val": 0.15, "test": 0.15}, "folds": 0, "ood_val_fraction": 0.5}


def synthetic_manifest(seed_offset: int = 0) -> pd.DataFrame:
    rows = []
    sizes = {"NV": 60, "MEL": 30, "DF": 7}
    for cls, n_lesions in sizes.items():
        for lesion in range(n_lesions):
            for k in range(1 + (lesion + seed_offset) % 3):  # 1 to 3 images per lesion
                rows.append({"image_id": f"{cls}_{lesion}_{k}", "source": "lesion", "lesion_class": cls,
                             "lesion_id": f"{cls}_L{lesion}", "status": "ok", "category": ""})
    rows.append({"image_id": "bad", "source": "lesion", "lesion_class": "NV", "lesion_id": "x", "status": "rejected",
                 "category": ""})
    rows += [{"image_id": f"ns{i}", "source": "not_skin", "lesion_class": "", "lesion_id": f"solo_ns{i}", "status": "ok",
              "category": "not_skin"} for i in range(40)]
    rows += [{"image_id": f"ood{i}", "source": "ood", "lesion_class": "", "lesion_id": f"solo_ood{i}", "status": "ok",
              "category": f"kind{i % 4}"} for i in range(11)]  # 4 categories of 3, 3, 3 and 2 images
    manifest = pd.DataFrame(rows)
    return manifest.assign(group_id=manifest["lesion_id"])  # no near-duplicates here


def test_no_lesion_crosses_splits_and_classes_are_stratified():
    manifest = synthetic_manifest()
    splits = make_splits(manifest, CFG)
    joined = manifest.merge(splits, on="image_id")
    assert joined.groupby("lesion_id")["split"].nunique().max() == 1
    lesion = joined[joined["source"] == "lesion"]
    share = pd.crosstab(lesion["lesion_class"], lesion["split"], normalize="index")
    assert ((share["train"] - 0.7).abs() < 0.08).all(), share
    assert (share[["val", "test"]] > 0.05).all().all(), share  # even DF (7 lesions) reaches val and test
    ns = joined[joined["source"] == "not_skin"]["split"].value_counts()
    assert ns.to_dict() == {"train": 28, "val": 6, "test": 6}


def test_only_ok_rows_and_ood_only_in_val_and_test():
    manifest = synthetic_manifest()
    splits = make_splits(manifest, CFG)
    assert sorted(splits["image_id"]) == sorted(manifest.loc[manifest["status"] == "ok", "image_id"])
    ood = splits[splits["image_id"].str.startswith("ood")]["split"].value_counts().to_dict()
    assert ood == {"val": 6, "test": 5} or ood == {"val": 5, "test": 6}  # two whole categories each
    assert (splits["fold"] == -1).all()
    assert set(splits.loc[splits["image_id"].str.startswith("ood"), "ood_protocol"]) == {"held_out_categories"}
    assert set(splits.loc[~splits["image_id"].str.startswith("ood"), "ood_protocol"]) == {""}


def test_same_seed_same_split_any_row_order_and_new_seed_differs():
    manifest = synthetic_manifest()
    first = make_splits(manifest, CFG).set_index("image_id")["split"]
    shuffled = make_splits(manifest.sample(frac=1, random_state=3), CFG).set_index("image_id")["split"]
    assert first.equals(shuffled.loc[first.index])
    other = make_splits(manifest, {**CFG, "seed": 1}).set_index("image_id")["split"]
    assert not first.equals(other.loc[first.index])


def test_folds_are_grouped_and_cover_train_and_val_only():
    manifest = synthetic_manifest()
    splits = make_splits(manifest, {**CFG, "folds": 3})
    joined = manifest.merge(splits, on="image_id")
    dev = joined[joined["split"].isin(["train", "val"]) & (joined["source"] != "ood")]
    assert set(dev["fold"]) == {0, 1, 2}
    assert (joined.loc[~joined.index.isin(dev.index), "fold"] == -1).all()
    assert joined[joined["source"] == "lesion"].groupby("lesion_id")["fold"].nunique().max() == 1


@pytest.mark.parametrize("patch, message", [
    ({"fractions": {"train": 0.7, "val": 0.2}}, "splits.fractions: needs exactly"),
    ({"fractions": {"train": 0.7, "val": 0.2, "test": 0.2}}, "sum to 1"),
    ({"folds": 1}, "splits.folds"),
    ({"ood_val_fraction": 1.5}, "splits.ood_val_fraction"),
])
def test_bad_config_names_the_key(patch, message):
    with pytest.raises(ValueError, match=message):
        make_splits(synthetic_manifest(), {**CFG, **patch})


def _groups(sizes: dict[str, list[int]]) -> tuple[pd.Series, pd.Series]:
    """(labels, groups) of one image per row: class -> the sizes of its lesion groups."""
    labels, groups = [], []
    for cls, group_sizes in sizes.items():
        for g, n in enumerate(group_sizes):
            labels += [cls] * n
            groups += [f"{cls}_L{g}"] * n
    return pd.Series(labels), pd.Series(groups)


FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


@pytest.mark.parametrize("seed", range(5))
def test_every_class_with_three_groups_is_in_every_split(seed):
    # VASC as in the old demo (4 lesions of 3 images): the greedy pass alone fills train with 3 of them and
    # gives test none; DF is 3 groups of unequal size
    labels, groups = _groups({"NV": [3] * 40, "MEL": [3] * 16 + [1, 1], "VASC": [3] * 4, "DF": [5, 1, 2]})
    split = grouped_stratified_split(labels, groups, FRACTIONS, seed)
    table = pd.crosstab(labels, split).reindex(columns=list(SPLITS), fill_value=0)
    assert (table > 0).all().all(), table
    assert (pd.DataFrame({"g": groups, "s": split}).groupby("g")["s"].nunique() == 1).all()
    assert table.loc["DF"].to_dict() == {"train": 5, "val": 1, "test": 2}  # the smallest groups go to val and test
    assert abs(table.loc["NV", "train"] / 120 - 0.7) < 0.05


def test_a_class_with_too_few_groups_is_named_in_the_log(caplog):
    labels, groups = _groups({"NV": [2] * 30, "DF": [2, 3]})
    with caplog.at_level(logging.WARNING, logger="samderm.data.splits"):
        split = grouped_stratified_split(labels, groups, FRACTIONS, 0)
    assert "class DF has 2 lesion group(s), fewer than the 3 splits ['train', 'val', 'test']: " \
           "it cannot be placed in every split" in caplog.text
    assert "class NV" not in caplog.text
    assert split[labels == "DF"].nunique() == 2  # its two groups still go somewhere, whole


def test_a_split_of_fraction_zero_needs_no_group(caplog):
    labels, groups = _groups({"NV": [2] * 30, "DF": [2, 3]})
    with caplog.at_level(logging.WARNING, logger="samderm.data.splits"):
        split = grouped_stratified_split(labels, groups, {"train": 0.8, "val": 0.0, "test": 0.2}, 0)
    assert caplog.text == ""
    assert set(split[labels == "DF"]) == {"train", "test"} and "val" not in set(split)


def test_unlabeled_rows_get_their_own_split_and_leave_the_labelled_split_unchanged():
    manifest = synthetic_manifest()
    pool = pd.DataFrame([{"image_id": f"unlabeled__{i}", "source": "unlabeled", "lesion_class": "", "lesion_id": f"solo_u{i}",
                          "status": "ok", "category": "pool", "group_id": f"solo_u{i}"} for i in range(9)])
    with_pool = make_splits(pd.concat([manifest, pool], ignore_index=True), CFG)
    split = with_pool.set_index("image_id")["split"]
    assert (split[pool["image_id"]] == "unlabeled").all()
    assert not set(split.drop(pool["image_id"])) & {"unlabeled"}
    pd.testing.assert_frame_equal(with_pool[~with_pool["image_id"].isin(pool["image_id"])].reset_index(drop=True),
                                  make_splits(manifest, CFG))
