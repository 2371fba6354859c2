"""Balancing views: caps and copies only in train, counts reconcile, copies are deterministic."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from samderm.data.balance import make_views

AUG = {"hflip": 0.5, "vflip": 0.5, "rotation_degrees": 180, "color_jitter": {"brightness": 0.2}}
SMART = {"caps": {"NV": 10, "UNK": 5}, "augment_to": 8, "seed": 0, "augment": AUG}


def _data():
    rows, splits = [], []
    counts = {"NV": (30, 5), "MEL": (12, 3), "DF": (3, 2)}  # class: (train, val)
    for cls, (n_train, n_val) in counts.items():
        for i in range(n_train + n_val):
            image_id = f"{cls}{i}"
            rows.append({"image_id": image_id, "source": "lesion", "lesion_class": cls, "status": "ok"})
            splits.append({"image_id": image_id, "split": "train" if i < n_train else "val"})
    for i in range(6):
        rows.append({"image_id": f"ns{i}", "source": "not_skin", "lesion_class": "", "status": "ok"})
        splits.append({"image_id": f"ns{i}", "split": "train" if i < 4 else "test"})
    rows.append({"image_id": "ood0", "source": "ood", "lesion_class": "", "status": "ok"})
    splits.append({"image_id": "ood0", "split": "test"})
    rows.append({"image_id": "gone", "source": "lesion", "lesion_class": "NV", "status": "rejected"})
    return pd.DataFrame(rows), pd.DataFrame(splits)


def test_original_strategy_is_every_lesion_and_not_skin_row_once():
    manifest, splits = _data()
    views, table = make_views(manifest, splits, "original", {"caps": {}, "augment_to": 0})
    assert len(views) == 55 + 6 and (views["copy"] == 0).all() and (views["view_id"] == views["image_id"]).all()
    assert "ood0" not in set(views["image_id"]) and "gone" not in set(views["image_id"])
    assert (table["before"] == table["after"]).all()


def test_smart_caps_and_augments_train_only_and_table_reconciles():
    manifest, splits = _data()
    views, table = make_views(manifest, splits, "smart", SMART)
    t = table.set_index("class")
    assert t.loc["NV"].tolist() == [30, 20, 0, 10]
    assert t.loc["MEL"].tolist() == [12, 0, 0, 12]
    assert t.loc["DF"].tolist() == [3, 0, 5, 8]
    assert (t["before"] - t["capped"] + t["augmented"] == t["after"]).all()
    copies = views[views["copy"] > 0]
    assert (copies["split"] == "train").all() and len(copies) == 5
    assert copies["view_id"].tolist() == ["DF0__aug1", "DF0__aug2", "DF1__aug1", "DF1__aug2", "DF2__aug1"]
    assert set(json.loads(copies["transform"].iloc[0])) >= {"hflip", "rotation", "brightness"}
    # val rows of a capped class are all kept, as are not-skin rows
    val_nv = views[(views["split"] == "val") & views["image_id"].str.startswith("NV")]
    assert len(val_nv) == 5 and (views["source"] == "not_skin").sum() == 6


def test_a_cap_below_augment_to_augments_from_the_capped_rows():
    """NV: 30 train images capped to 5, then augmented up to 8 from those 5 (not from the 30 originals,
    which would need no copy at all)."""
    manifest, splits = _data()
    views, table = make_views(manifest, splits, "low_cap", {**SMART, "caps": {"NV": 5}, "augment_to": 8})
    assert table.set_index("class").loc["NV"].tolist() == [30, 25, 3, 8]
    nv_train = views[(views["split"] == "train") & views["image_id"].str.startswith("NV")]
    assert len(nv_train) == 8 and (nv_train["copy"] > 0).sum() == 3
    assert set(nv_train.loc[nv_train["copy"] > 0, "image_id"]) <= set(nv_train.loc[nv_train["copy"] == 0, "image_id"])


def test_same_config_same_views_and_seed_changes_them():
    manifest, splits = _data()
    first, _ = make_views(manifest, splits, "smart", SMART)
    again, _ = make_views(manifest.sample(frac=1, random_state=1), splits, "smart", SMART)
    assert first.equals(again)
    other, _ = make_views(manifest, splits, "smart", {**SMART, "seed": 1})
    nv = lambda v: set(v.loc[(v["split"] == "train") & v["image_id"].str.startswith("NV"), "image_id"])
    assert nv(first) != nv(other)
    assert set(first["transform"]) != set(other["transform"])


@pytest.mark.parametrize("cfg, message", [
    ({"caps": {"XX": 3}}, r"balancing.s.caps: unknown class 'XX'"),
    ({"augment_to": 5}, r"balancing.s.augment: required"),
    ({"cap": {}}, r"balancing.s: unknown key"),
])
def test_bad_strategy_names_the_key(cfg, message):
    manifest, splits = _data()
    with pytest.raises(ValueError, match=message):
        make_views(manifest, splits, "s", cfg)


def test_missing_split_row_is_an_error():
    manifest, splits = _data()
    with pytest.raises(ValueError, match="no row for 1"):
        make_views(manifest, splits.iloc[1:], "original", {})
