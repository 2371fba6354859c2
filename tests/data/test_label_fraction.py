"""label_fraction: a seeded, class-stratified fraction of the training lesion groups."""

from __future__ import annotations

import pandas as pd
import pytest

from samderm.data.label_fraction import apply_label_fraction, groups_to_keep, kept_train_images

# train groups per class; every group has 1-3 images so keeping images instead of groups shows
TRAIN_GROUPS = {"MEL": 10, "NV": 40, "DF": 3, "VASC": 1}


def study() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, split = [], []
    for cls, n in TRAIN_GROUPS.items():
        for g in range(n):
            for k in range(1 + g % 3):
                rows.append({"image_id": f"{cls}_{g}_{k}", "source": "lesion", "lesion_class": cls,
                             "malignancy": "", "group_id": f"g_{cls}_{g}"})
                split.append("train")
    for s in ("val", "test"):  # held-out lesions and not-skin images of the other splits
        for cls in TRAIN_GROUPS:
            rows.append({"image_id": f"{s}_{cls}", "source": "lesion", "lesion_class": cls, "malignancy": "",
                         "group_id": f"g_{s}_{cls}"})
            split.append(s)
        rows.append({"image_id": f"{s}_ns", "source": "not_skin", "lesion_class": "", "malignancy": "",
                     "group_id": f"g_{s}_ns"})
        split.append(s)
    for i in range(5):
        rows.append({"image_id": f"ns_{i}", "source": "not_skin", "lesion_class": "", "malignancy": "",
                     "group_id": f"g_ns_{i}"})
        split.append("train")
    rows.append({"image_id": "ood_0", "source": "ood", "lesion_class": "", "malignancy": "", "group_id": "g_ood"})
    split.append("test")
    manifest = pd.DataFrame(rows)
    return manifest, pd.DataFrame({"image_id": manifest["image_id"], "split": split})


def train_lesion(manifest, splits):
    m = manifest.merge(splits, on="image_id")
    return m[(m["split"] == "train") & (m["source"] == "lesion")]


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 0.5, 0.9])
def test_each_class_keeps_round_fraction_of_its_groups_at_least_one(fraction):
    manifest, splits = study()
    kept, summary = kept_train_images(manifest, splits, fraction, seed=0)
    lesion = train_lesion(manifest, splits)
    kept_rows = lesion[lesion["image_id"].isin(kept)]
    for cls, n in TRAIN_GROUPS.items():
        expected = max(1, int(fraction * n + 0.5))
        assert kept_rows.loc[kept_rows["lesion_class"] == cls, "group_id"].nunique() == expected
        row = summary.set_index("class").loc[cls]
        assert (row["groups_before"], row["groups_after"]) == (n, expected)


def test_groups_to_keep():
    assert [groups_to_keep(n, 0.1) for n in (1, 4, 5, 10, 15, 40)] == [1, 1, 1, 1, 2, 4]
    assert groups_to_keep(3, 0.5) == 2  # halves round up
    assert groups_to_keep(7, 1.0) == 7


def test_whole_groups_only():
    manifest, splits = study()
    kept, _ = kept_train_images(manifest, splits, 0.3, seed=1)
    lesion = train_lesion(manifest, splits)
    share = lesion.assign(kept=lesion["image_id"].isin(kept)).groupby("group_id")["kept"].agg(["min", "max"])
    assert (share["min"] == share["max"]).all()  # no group is partly kept
    assert share["max"].any() and not share["min"].all()


def test_mixed_group_counts_for_its_most_frequent_class_and_stays_whole():
    manifest, splits = study()
    # g_MEL_2 has three MEL images; make one of them NV: still a MEL group, never split
    manifest.loc[manifest["image_id"] == "MEL_2_0", "lesion_class"] = "NV"
    for seed in range(5):
        kept, summary = kept_train_images(manifest, splits, 0.5, seed=seed)
        ids = {"MEL_2_0", "MEL_2_1", "MEL_2_2"}
        assert ids <= kept or not ids & kept
        assert summary.set_index("class").loc["MEL", "groups_before"] == 10
        assert summary.set_index("class").loc["NV", "groups_before"] == 40


def test_seed_determinism_and_sensitivity():
    manifest, splits = study()
    first, _ = kept_train_images(manifest, splits, 0.2, seed=3)
    again, _ = kept_train_images(manifest.sample(frac=1, random_state=0), splits, 0.2, seed=3)
    other, _ = kept_train_images(manifest, splits, 0.2, seed=4)
    assert first == again  # same seed, same draw, whatever the row order
    assert first != other


def test_val_test_and_not_skin_untouched():
    manifest, splits = study()
    kept, summary = kept_train_images(manifest, splits, 0.1, seed=0)
    split = splits.set_index("image_id")["split"]
    assert all(split[i] == "train" for i in kept)  # only train images are returned
    assert {f"ns_{i}" for i in range(5)} <= kept
    views = splits.assign(view_id=lambda t: t["image_id"] + "__0", copy=0)
    aug = views[views["split"] == "train"].assign(view_id=lambda t: t["image_id"] + "__1", copy=1)
    views = pd.concat([views, aug], ignore_index=True)
    out, _ = apply_label_fraction(views, manifest, splits, 0.1, seed=0)
    assert out[out["split"] != "train"].reset_index(drop=True).equals(
        views[views["split"] != "train"].reset_index(drop=True))
    assert set(out.loc[out["split"] == "train", "image_id"]) == kept
    assert (out.loc[out["split"] == "train", "copy"] == 1).sum() == len(kept)  # copies follow their image
    assert summary.set_index("class").loc["not_skin", ["images_before", "images_after"]].tolist() == [5, 5]


def test_fraction_one_is_identity():
    manifest, splits = study()
    kept, summary = kept_train_images(manifest, splits, 1.0, seed=0)
    m = manifest.merge(splits, on="image_id")
    assert kept == set(m.loc[(m["split"] == "train") & m["source"].isin(["lesion", "not_skin"]), "image_id"])
    assert (summary["groups_before"] == summary["groups_after"]).all()
    assert (summary["images_before"] == summary["images_after"]).all()
    views = pd.DataFrame({"view_id": m["image_id"], "image_id": m["image_id"], "split": m["split"], "copy": 0})
    out, _ = apply_label_fraction(views, manifest, splits, 1, seed=0)
    assert out.equals(views)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "0.5", True, None])
def test_bad_fraction_names_the_key(bad):
    manifest, splits = study()
    with pytest.raises(ValueError, match="label_fraction"):
        kept_train_images(manifest, splits, bad, seed=0)


def test_counts_reconcile():
    manifest, splits = study()
    kept, summary = kept_train_images(manifest, splits, 0.3, seed=2)
    lesion = train_lesion(manifest, splits)
    assert summary["images_after"].sum() == len(kept)
    assert summary["images_before"].sum() == len(lesion) + 5
    assert summary.loc[summary["class"] != "not_skin", "groups_before"].sum() == lesion["group_id"].nunique()
    assert summary.loc[summary["class"] != "not_skin", "groups_after"].sum() == \
        lesion.loc[lesion["image_id"].isin(kept), "group_id"].nunique()
    assert (summary["images_after"] <= summary["images_before"]).all()
