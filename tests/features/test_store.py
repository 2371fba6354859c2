"""The feature store format and load_features, on stores written by write_store."""

from __future__ import annotations

import numpy as np
import pytest

from samderm.features.store import StoreError, load_features, write_store


def _store(tmp_path, name, ids, rows, dtype="float32"):
    # two blocks, as shards arrive
    write_store(tmp_path / name, ids, [rows[:1], rows[1:]], rows.shape[1], dtype, {"pooling": "mean"})
    return tmp_path / name


def test_stores_concatenate_in_order_as_float32(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = -np.arange(4, dtype=np.float32).reshape(2, 2)
    sa = _store(tmp_path, "images", ["x", "y", "z"], a)
    sb = _store(tmp_path, "aug", ["x__aug1", "y__aug1"], b, dtype="float16")
    ids, feats = load_features([sb, sa])
    assert ids == ["x__aug1", "y__aug1", "x", "y", "z"]
    assert feats.dtype == np.float32
    np.testing.assert_array_equal(feats, np.concatenate([b, a]))
    assert np.load(sa / "features.npy", mmap_mode="r").shape == (3, 2)


def test_incomplete_store_is_named(tmp_path):
    store = _store(tmp_path, "images", ["x"], np.zeros((1, 2)))
    (store / "settings.json").unlink()
    with pytest.raises(StoreError, match=r"images is incomplete: missing settings.json"):
        load_features([store])


def test_rows_must_match_index(tmp_path):
    store = _store(tmp_path, "images", ["x", "y"], np.zeros((2, 2)))
    np.save(store / "features.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(StoreError, match="does not match 2 rows"):
        load_features(store)


def test_duplicate_view_id_across_stores_is_refused(tmp_path):
    s1 = _store(tmp_path, "one", ["x", "y"], np.zeros((2, 2)))
    s2 = _store(tmp_path, "two", ["y"], np.zeros((1, 2)))
    with pytest.raises(StoreError, match=r"'y' appears in .*one and .*two"):
        load_features([s1, s2])


def test_duplicate_view_id_within_store_is_refused(tmp_path):
    s1 = _store(tmp_path, "one", ["x", "x"], np.zeros((2, 2)))
    with pytest.raises(StoreError, match="'x' appears twice in"):
        load_features([s1])


def test_dimension_mismatch_is_refused(tmp_path):
    s1 = _store(tmp_path, "one", ["x"], np.zeros((1, 2)))
    s2 = _store(tmp_path, "two", ["y"], np.zeros((1, 3)))
    with pytest.raises(StoreError, match="3-d features cannot be joined"):
        load_features([s1, s2])


def test_write_store_refuses_row_count_mismatch(tmp_path):
    with pytest.raises(StoreError, match="blocks hold 1 rows, expected 2"):
        write_store(tmp_path / "s", ["a", "b"], [np.zeros((1, 2))], 2, "float32", {})
    assert not (tmp_path / "s" / "features.npy").exists()
