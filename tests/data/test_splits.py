"""Splits: no lesion crosses splits, classes are stratified, the same seed gives the same split."""

from __future__ import annotations

import pandas as pd
import pytest

from samderm.data.splits import make_splits

CFG = {"seed": 0, "fractions": {"train": 0.7, "val": 0.15, "test": 0.15}, "folds": 0, "ood_val_fraction": 0.5}


def synthetic_manifest(seed_offset: int = 0) -> pd.DataFrame:
    rows = []
    sizes = {"NV": 60, "MEL": 30, "DF": 7}
    for cls, n_lesions in sizes.items():
        for lesion in range(n_lesions):
            for k in range(1 + (lesion + seed_offset) % 3):  # 1 to 3 images per lesion
                rows.append({"image_id": f"{cls}_{lesion}_{k}", "source": "lesion", "lesion_class": cls,
                             "lesion_id": f"{cls}_L{lesion}", "status": "ok"})
    rows.append({"image_id": "bad", "source": "lesion", "lesion_class": "NV", "lesion_id": "x", "status": "rejected"})
    rows += [{"image_id": f"ns{i}", "source": "not_skin", "lesion_class": "", "lesion_id": f"solo_ns{i}", "status": "ok"} for i in range(40)]
    rows += [{"image_id": f"ood{i}", "source": "ood", "lesion_class": "", "lesion_id": f"solo_ood{i}", "status": "ok"} for i in range(11)]
    return pd.DataFrame(rows)


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
    assert ood == {"val": 6, "test": 5} or ood == {"val": 5, "test": 6}
    assert (splits["fold"] == -1).all()


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
