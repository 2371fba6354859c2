"""OOD tuning never sees the test OOD distribution: the manifest's `category`, splits by whole
categories, and a separate tuning folder (data.ood_tune_dir) that goes to val only."""

from __future__ import annotations

import pandas as pd
import pytest

from samderm.data.isic import layout
from samderm.data.manifest import build_manifest
from samderm.data.splits import make_splits, ood_protocol, split_ood

from .conftest import write_image

CFG = {"seed": 0, "fractions": {"train": 0.7, "val": 0.15, "test": 0.15}, "folds": 0, "ood_val_fraction": 0.5}


def _manifest(isic_layout, ns, ood, labels_cfg, **kw):
    for i in range(9):  # three lesions of three images: every split can hold one
        isic_layout.add(f"ISIC_{i}", "NV", f"L{i // 3}", seed=i)
    manifest, _ = build_manifest(**layout(isic_layout.write()), not_skin_dir=ns, ood_dir=ood, labels_cfg=labels_cfg,
                                 bad_images="fail", **kw)
    return manifest


def _ood_folder(root, categories: dict[str, int], seed: int = 0):
    for c, (category, n) in enumerate(categories.items()):
        for i in range(n):
            write_image(root / category / f"img{i}.png", seed=seed + 100 * c + i)
    return root


def _split_of_ood(manifest, splits):
    joined = manifest.merge(splits, on="image_id")
    return joined[joined["source"] == "ood"]


def test_category_is_the_first_subfolder_or_the_folder_name(isic_layout, tmp_path, labels_cfg):
    ns, ood = tmp_path / "not_skin", tmp_path / "my_ood"
    write_image(ns / "tex.jpg", seed=1)
    write_image(ood / "forest" / "deep" / "a.png", seed=2)
    write_image(ood / "beach" / "b.png", seed=3)
    write_image(ood / "loose.png", seed=4)
    m = _manifest(isic_layout, ns, ood, labels_cfg).set_index("image_id")["category"]
    assert m["ood__forest__deep__a"] == "forest" and m["ood__beach__b"] == "beach"
    assert m["ood__loose"] == "my_ood" and m["not_skin__tex"] == "not_skin"
    assert (m[m.index.str.startswith("ISIC_")] == "").all()


@pytest.mark.parametrize("seed", range(4))
def test_tuning_and_test_ood_share_no_category_and_no_image(isic_layout, tmp_path, labels_cfg, seed):
    ns = tmp_path / "not_skin"
    write_image(ns / "tex.jpg", seed=1)
    ood = _ood_folder(tmp_path / "ood", {"flower": 4, "noise": 3, "scene": 5, "stripes": 2, "objects": 3})
    manifest = _manifest(isic_layout, ns, ood, labels_cfg)
    rows = _split_of_ood(manifest, make_splits(manifest, {**CFG, "seed": seed}))
    val, test = rows[rows["split"] == "val"], rows[rows["split"] == "test"]
    assert len(val) + len(test) == 17 and set(rows["split"]) == {"val", "test"}
    assert not set(val["category"]) & set(test["category"])
    assert not set(val["image_id"]) & set(test["image_id"])
    assert len(set(val["category"])) == 2 and len(set(test["category"])) == 3  # round(5 * 0.5) = 2 tuning categories
    assert set(rows["ood_protocol"]) == {"held_out_categories"}


def test_categories_move_with_the_seed_and_each_split_keeps_one():
    ood = pd.DataFrame({"image_id": [f"ood__k{i % 3}__{i}" for i in range(9)], "category": [f"k{i % 3}" for i in range(9)]})
    tuning = {frozenset(ood.loc[split_ood(ood, 0.5, s)["split"].to_numpy() == "val", "category"]) for s in range(8)}
    assert len(tuning) > 1  # the seed picks which categories tune
    for fraction, n_val in ((0.0, 1), (1.0, 2), (0.5, 2)):  # at least one category in val and one in test
        split = split_ood(ood, fraction, 0)["split"].to_numpy()
        assert ood.loc[split == "val", "category"].nunique() == n_val
        assert ood.loc[split == "test", "category"].nunique() == 3 - n_val


def test_one_category_without_a_tuning_folder_is_a_clear_error():
    ood = pd.DataFrame({"image_id": ["ood__a", "ood__b"], "category": ["ood", "ood"]})
    with pytest.raises(ValueError, match=r"OOD images form 1 category \['ood'\].*data.ood_dir.*data.ood_tune_dir"):
        split_ood(ood, 0.5, 0)


def test_a_tuning_folder_goes_to_val_only_and_the_ood_folder_to_test(isic_layout, tmp_path, labels_cfg):
    ns = tmp_path / "not_skin"
    write_image(ns / "tex.jpg", seed=1)
    ood = _ood_folder(tmp_path / "ood", {"scene": 4})  # one category is enough with a tuning folder
    tune = _ood_folder(tmp_path / "tune", {"texture": 3, "noise": 2}, seed=50)
    write_image(tune / "loose.png", seed=77)
    manifest = _manifest(isic_layout, ns, ood, labels_cfg, ood_tune_dir=tune)
    splits = make_splits(manifest, CFG)
    rows = _split_of_ood(manifest, splits).set_index("image_id")
    from_tune = rows["path"].str.startswith(str(tune))
    assert from_tune.sum() == 6 and (~from_tune).sum() == 4
    assert (rows.loc[from_tune, "split"] == "val").all() and (rows.loc[~from_tune, "split"] == "test").all()
    assert rows.index[from_tune].str.startswith("ood_tune__").all() and (rows["source"] == "ood").all()
    assert set(rows.loc[from_tune, "category"]) == {"texture", "noise", "tune"}
    assert ood_protocol(splits) == "tuning_folder"


def test_a_tuning_folder_sharing_a_category_or_an_image_with_the_ood_folder_is_refused(isic_layout, tmp_path, labels_cfg):
    ns = tmp_path / "not_skin"
    write_image(ns / "tex.jpg", seed=1)
    ood = _ood_folder(tmp_path / "ood", {"scene": 2, "forest": 2})
    tune = _ood_folder(tmp_path / "tune", {"forest": 2}, seed=60)
    manifest = _manifest(isic_layout, ns, ood, labels_cfg, ood_tune_dir=tune)
    with pytest.raises(ValueError, match=r"data.ood_tune_dir and data.ood_dir share the OOD categories \['forest'\]"):
        make_splits(manifest, CFG)
    write_image(tune / "other" / "copy.png", seed=0)  # the same bytes as ood/scene/img0.png
    refused = r"OOD tuning \(data.ood_tune_dir\) folder .* share 1 image.*never be tuned on a test image"
    with pytest.raises(ValueError, match=refused):
        _manifest(isic_layout, ns, ood, labels_cfg, ood_tune_dir=tune)


def test_an_empty_tuning_folder_is_a_clear_error(isic_layout, tmp_path, labels_cfg):
    ns, tune = tmp_path / "not_skin", tmp_path / "tune"
    write_image(ns / "tex.jpg", seed=1)
    tune.mkdir()
    with pytest.raises(ValueError, match="data.ood_tune_dir: .*tune holds no image files"):
        _manifest(isic_layout, ns, _ood_folder(tmp_path / "ood", {"a": 1, "b": 1}), labels_cfg, ood_tune_dir=tune)


def test_the_protocol_is_read_back_from_the_splits_table():
    assert ood_protocol(pd.DataFrame({"image_id": ["a"], "split": ["val"]})) == "unrecorded"
    assert ood_protocol(pd.DataFrame({"ood_protocol": ["", "held_out_categories", None]})) == "held_out_categories"
    with pytest.raises(ValueError, match="several OOD protocols"):
        ood_protocol(pd.DataFrame({"ood_protocol": ["tuning_folder", "held_out_categories"]}))


def _categories(far: int, near: int) -> pd.DataFrame:
    names = [f"far{k}" for k in range(far)] + [f"near{k}" for k in range(near)]
    return pd.DataFrame({"image_id": [f"ood__{c}__{i}" for c in names for i in range(3)],
                         "category": [c for c in names for _ in range(3)]})


@pytest.mark.parametrize("seed", range(8))
def test_every_level_with_two_categories_tunes_and_tests(seed):
    ood = _categories(far=5, near=2)
    levels = {"near": ["near0", "near1"]}
    out = split_ood(ood, 0.5, seed, levels)
    assert out["ood_level"].tolist() == ["near" if c.startswith("near") else "far" for c in ood["category"]]
    for level in ("far", "near"):
        mine = ood["category"][(out["ood_level"] == level).to_numpy()]
        val = set(mine[(out.loc[mine.index, "split"] == "val").to_numpy()])
        test = set(mine[(out.loc[mine.index, "split"] == "test").to_numpy()])
        assert val and test and not val & test, (level, val, test)
    far_val = ood.loc[(out["split"] == "val").to_numpy() & (out["ood_level"] == "far").to_numpy(), "category"].nunique()
    assert far_val == 2  # round(5 * 0.5) of the far categories, as without levels


def test_without_near_categories_the_split_is_the_old_one():
    ood = _categories(far=6, near=0)
    for seed in range(4):
        plain = split_ood(ood, 0.5, seed)
        assert plain.equals(split_ood(ood, 0.5, seed, {"near": []}))
        assert set(plain["ood_level"]) == {"far"}


def test_a_level_of_one_category_is_tested_and_a_misnamed_near_category_is_an_error():
    out = split_ood(_categories(far=3, near=1), 0.5, 0, {"near": ["near0"]})
    assert set(out.loc[out["ood_level"] == "near", "split"]) == {"test"}
    out = split_ood(_categories(far=1, near=1), 0.5, 0, {"near": ["near0"]})
    assert sorted(out.groupby("ood_level")["split"].first().tolist()) == ["test", "val"]  # one each: tune on one
    with pytest.raises(ValueError, match=r"data.ood_levels.near: \['nearX'\] are no OOD category"):
        split_ood(_categories(far=3, near=1), 0.5, 0, {"near": ["nearX"]})


def test_splits_table_records_the_level(isic_layout, tmp_path, labels_cfg):
    ns = tmp_path / "not_skin"
    write_image(ns / "tex.jpg", seed=1)
    ood = _ood_folder(tmp_path / "ood", {"flower": 2, "noise": 2, "arm": 2, "back": 2})
    manifest = _manifest(isic_layout, ns, ood, labels_cfg)
    splits = make_splits(manifest, CFG, {"near": ["arm", "back"]})
    rows = _split_of_ood(manifest, splits)
    assert rows.groupby("category")["ood_level"].first().to_dict() == {"arm": "near", "back": "near", "flower": "far", "noise": "far"}
    assert set(splits.loc[~splits["image_id"].isin(rows["image_id"]), "ood_level"]) == {""}
    for level in ("far", "near"):
        assert set(rows.loc[rows["ood_level"] == level, "split"]) == {"val", "test"}
