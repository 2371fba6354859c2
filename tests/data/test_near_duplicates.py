"""Near-duplicate images (perceptual hash within a few bits) join one split group."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from samderm.data import isic
from samderm.data.demo import lesion_image
from samderm.data.manifest import build_manifest
from samderm.data.near_duplicates import near_duplicate_groups, near_pairs, near_pairs_between
from samderm.data.splits import grouped_stratified_split, make_splits

from .conftest import LABELS, IsicLayout

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


@pytest.fixture
def isic_with_a_copy(tmp_path):
    """30 lesions, one image each (image 7 has no lesion_id), plus a resized, re-encoded copy of image 7
    filed as its own solo image, as the same photograph comes twice from two ISIC sources."""
    layout = IsicLayout(tmp_path / "isic2019")
    classes = ["NV", "MEL", "BCC"]
    for i in range(30):
        layout.add(f"ISIC_{i:07d}", classes[i % 3], lesion_id="" if i == 7 else f"HAM_{i:07d}", file=False)
        image, _ = lesion_image(classes[i % 3], ("lesion", i), ("image", i), 256)
        image.save(layout.folder / f"ISIC_{i:07d}.jpg", quality=95)
    original = Image.open(layout.folder / "ISIC_0000007.jpg")
    original.resize((181, 181), Image.BILINEAR).save(layout.folder / "ISIC_0000099.jpg", quality=60)
    layout.add("ISIC_0000099", classes[7 % 3], lesion_id="", file=False)
    return layout.write()


def _manifest(root, tmp_path, bits):
    (tmp_path / "ns").mkdir(exist_ok=True)
    (tmp_path / "ood").mkdir(exist_ok=True)
    return build_manifest(**isic.layout(root), not_skin_dir=tmp_path / "ns", ood_dir=tmp_path / "ood",
                          labels_cfg=LABELS, near_duplicate_bits=bits)


def test_a_resized_reencoded_copy_joins_its_original_group_and_split(isic_with_a_copy, tmp_path):
    manifest, counts = _manifest(isic_with_a_copy, tmp_path, bits=4)
    group = manifest.set_index("image_id")["group_id"]
    assert group["ISIC_0000099"] == group["ISIC_0000007"] == "solo_ISIC_0000007"
    assert manifest["group_id"].nunique() == 30  # only the copy merged: 31 images, 30 groups
    assert counts.set_index("source").loc["lesion", "near_duplicate_merges"] == 1
    ok = manifest[manifest["status"] == "ok"]
    moved_apart_by_lesion_id = False
    for seed in range(10):
        by_group = grouped_stratified_split(ok["lesion_class"], ok["group_id"], FRACTIONS, seed).set_axis(ok["image_id"])
        assert by_group["ISIC_0000099"] == by_group["ISIC_0000007"]
        by_lesion = grouped_stratified_split(ok["lesion_class"], ok["lesion_id"], FRACTIONS, seed).set_axis(ok["image_id"])
        moved_apart_by_lesion_id |= by_lesion["ISIC_0000099"] != by_lesion["ISIC_0000007"]
    assert moved_apart_by_lesion_id  # without the merge the copy would cross splits


def test_make_splits_keeps_a_copy_with_its_original(isic_with_a_copy, tmp_path):
    manifest, _ = _manifest(isic_with_a_copy, tmp_path, bits=4)
    for seed in range(10):
        split = _splits(manifest, seed).set_index("image_id")["split"]
        assert split["ISIC_0000099"] == split["ISIC_0000007"]


def test_off_leaves_group_id_equal_to_lesion_id(isic_with_a_copy, tmp_path):
    manifest, counts = _manifest(isic_with_a_copy, tmp_path, bits=None)
    assert (manifest["group_id"] == manifest["lesion_id"]).all() and (manifest["phash"] == "").all()
    assert counts["near_duplicate_merges"].sum() == 0


@pytest.mark.parametrize("max_bits", [0, 1, 3, 6])
def test_bucketed_search_finds_exactly_the_brute_force_pairs(max_bits):
    rng = np.random.default_rng(max_bits)
    base = rng.integers(0, 2**63, 300, dtype=np.uint64)
    # plant near copies: flip 0..max_bits+2 random bits of some hashes
    copies = []
    for value in base[:120]:
        flips = rng.choice(64, size=int(rng.integers(0, max_bits + 3)), replace=False)
        copies.append(int(value) ^ sum(1 << int(b) for b in flips))
    values = [int(v) for v in base] + copies
    hashes = [f"{v:016x}" for v in values]
    found = {(int(i), int(j), int(b)) for i, j, b in near_pairs(hashes, max_bits).itertuples(index=False)}
    brute = {(i, j, bin(values[i] ^ values[j]).count("1")) for i, j in itertools.combinations(range(len(values)), 2)
             if bin(values[i] ^ values[j]).count("1") <= max_bits}
    assert found == brute and len(brute) >= 20


def test_chains_of_near_duplicates_merge_whole_lesion_groups():
    h = lambda v: f"{v:016x}"  # noqa: E731
    manifest = pd.DataFrame({
        "image_id": ["a", "b", "c", "d", "e", "f", "g"],
        "source": ["lesion", "lesion", "lesion", "lesion", "lesion", "ood", "lesion"],
        "lesion_id": ["L3", "L2", "L2", "L1", "L9", "solo_f", "L8"],
        "status": ["ok", "ok", "ok", "ok", "ok", "ok", "rejected"],
        "phash": [h(0b1), h(0b11), h(0xFF00), h(0xFF01), h(0xF0F0F0F0F0), h(0b1), h(0b1)],
    })
    group_id, pairs = near_duplicate_groups(manifest, max_bits=1)
    # a~b (1 bit) links L3-L2; c~d links L2-L1; b and c share L2: L1, L2, L3 are one group named L1
    assert group_id.tolist() == ["L1", "L1", "L1", "L1", "L9", "solo_f", "L8"]
    assert sorted(map(tuple, pairs[["image_id", "twin_id"]].to_numpy())) == [("a", "b"), ("c", "d")]


def test_popcount_counts_bits_without_numpy_2(monkeypatch):
    from samderm.data import near_duplicates

    values = np.array([0, 1, 0b1011, 2**64 - 1, 2**63], dtype=np.uint64)
    expected = [bin(int(v)).count("1") for v in values]
    assert near_duplicates.popcount(values).tolist() == expected
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert near_duplicates.popcount(values).tolist() == expected


def test_near_pairs_between_lists_only_pairs_across_the_two_lists():
    h = lambda v: f"{v:016x}"  # noqa: E731
    queries = [h(0b0), h(0xF000), h(0xF000)]           # queries 1 and 2 are twins of each other: not listed
    references = [h(0xFF), h(0b11), h(0b11), h(0xF001)]  # references 1 and 2 too
    pairs = near_pairs_between(queries, references, max_bits=2)
    assert sorted(map(tuple, pairs.to_numpy().tolist())) == [(0, 1, 2), (0, 2, 2), (1, 3, 1), (2, 3, 1)]


def test_a_resized_copy_of_a_test_image_in_the_unlabeled_folder_is_found_as_its_twin(isic_with_a_copy, tmp_path):
    """The manifest hashes unlabeled images as it hashes the others (without merging them into a split
    group), and the semi-supervised pool finds a copy of a test image and of a train image."""
    from samderm.train.semi_supervised import labelled_twins, unlabeled_pool

    manifest, _ = _manifest(isic_with_a_copy, tmp_path, bits=4)
    split = _splits(manifest).set_index("image_id")["split"]
    test_image, train_image = split[split == "test"].index[0], split[split == "train"].index[0]
    pool = tmp_path / "unlabeled"
    pool.mkdir()
    for name, image_id in (("copy_of_test", test_image), ("copy_of_train", train_image)):
        original = Image.open(isic.layout(isic_with_a_copy)["images"] / f"{image_id}.jpg")
        original.resize((200, 200), Image.BILINEAR).save(pool / f"{name}.jpg", quality=70)
    lesion_image("NV", ("lesion", 500), ("image", 500), 256)[0].save(pool / "unrelated.jpg")
    manifest, _ = build_manifest(**isic.layout(isic_with_a_copy), not_skin_dir=tmp_path / "ns", ood_dir=tmp_path / "ood",
                                 labels_cfg=LABELS, near_duplicate_bits=4, unlabeled_dir=pool)
    unlabeled = manifest[manifest["source"] == "unlabeled"]
    assert (unlabeled["phash"] != "").all() and (unlabeled["group_id"] == unlabeled["lesion_id"]).all()
    splits = _splits(manifest)
    assert splits.set_index("image_id")["split"].loc[[test_image, train_image]].tolist() == ["test", "train"]
    pool_ids = unlabeled_pool(manifest, splits)
    twins = labelled_twins(manifest, splits, pool_ids, max_bits=4).set_axis(pool_ids)
    assert twins.loc["unlabeled__copy_of_test"].tolist() == [test_image, "test"]
    assert twins.loc["unlabeled__copy_of_train"].tolist() == [train_image, "train"]
    assert twins.loc["unlabeled__unrelated"].tolist() == ["", ""]


def _splits(manifest: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """make_splits with two OOD categories added (the held-out-categories protocol needs two)."""
    manifest = manifest.copy()
    for category in ("k0", "k1"):
        manifest.loc[len(manifest)] = {**dict.fromkeys(manifest.columns, ""), "image_id": f"ood__{category}__a",
                                       "source": "ood", "status": "ok", "category": category}
    return make_splits(manifest, {"seed": seed, "fractions": FRACTIONS, "folds": 0})
