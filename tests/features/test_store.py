"""The feature store format and load_features, on stores written by write_store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samderm.features.store import StoreError, load_features, read_store, write_store
from samderm.io import file_digest
from tests.damage import DAMAGE, damage


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


def _record(store, name, digest):
    """Put ``digest`` (None: no record) for ``name`` in the store's settings.json, as written by write_store."""
    settings = json.loads((store / "settings.json").read_text())
    settings["files"][name] = digest
    if digest is None:
        del settings["files"][name]
    (store / "settings.json").write_text(json.dumps(settings))


def test_rows_must_match_index(tmp_path):
    store = _store(tmp_path, "images", ["x", "y"], np.zeros((2, 2)))
    np.save(store / "features.npy", np.zeros((3, 2), np.float32))
    _record(store, "features.npy", file_digest(store / "features.npy"))  # consistent digests, inconsistent rows
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


@pytest.mark.parametrize("how", [*DAMAGE, "unrecorded"])
@pytest.mark.parametrize("name", ["features.npy", "index.tsv"])
def test_a_damaged_or_unrecorded_store_file_is_refused_naming_it_and_the_rebuild(tmp_path, name, how):
    rows = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    ids = [f"view{i:03d}" for i in range(40)]
    store = _store(tmp_path, "images", ids, rows)
    settings = json.loads((store / "settings.json").read_text())
    assert settings["files"][name] == file_digest(store / name)
    read_ids, features = load_features(store)  # untouched: it reads, the same numbers
    assert read_ids == ids and np.array_equal(features, rows)

    _record(store, name, None) if how == "unrecorded" else damage(store / name, how)
    for read in (load_features, read_store):
        with pytest.raises(StoreError) as refused:
            read(store)
        message = str(refused.value)
        said = "has no recorded checksum" if how == "unrecorded" else "is damaged: "
        assert f"{store / name} {said}" in message and f" in {store / 'settings.json'}" in message
        assert "Rebuild it: delete it and run the study again with the same snakemake command" in message
        assert f"rm {store / name} && snakemake --profile slurm" in message
    if how == "truncated":
        half = settings["files"][name]["bytes"] // 2
        assert f"is damaged: {half:,} bytes, but {settings['files'][name]['bytes']:,} were written" in message
