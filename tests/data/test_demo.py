"""The demo study: exact ISIC 2019 layout, deterministic bytes, visibly different classes."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from samderm.data import isic
from samderm.data.demo import drawn_looks, generate_demo, rng_for
from samderm.data.manifest import build_manifest

CFG = {"seed": 3, "image_size": 48, "images_per_lesion": 3, "not_skin": 5, "ood": 4,
       "class_counts": {"MEL": 7, "NV": 9, "BCC": 3, "AK": 3, "BKL": 3, "DF": 3, "VASC": 3, "SCC": 3}}
LABELS = {"lesion_classes": ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"],
          "malignant": ["MEL", "BCC", "SCC"], "benign": ["NV", "BKL", "DF", "VASC"], "ak_side": "malignant"}


def _generate(root, cfg=CFG):
    generate_demo(root / "isic2019", root / "not_skin", root / "ood", cfg)
    return root


def _digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("demo"))


def test_two_generations_are_byte_identical_and_the_seed_matters(demo, tmp_path):
    again = _digests(_generate(tmp_path / "again"))
    assert again == _digests(demo)
    other = _digests(_generate(tmp_path / "other", {**CFG, "seed": 4}))
    assert other.keys() == again.keys() and other != again


def test_layout_is_isic_2019_and_goes_through_the_manifest(demo):
    gt = pd.read_csv(demo / "isic2019" / isic.GROUND_TRUTH)
    meta = pd.read_csv(demo / "isic2019" / isic.METADATA, keep_default_na=False)
    assert list(gt.columns) == list(isic.GROUND_TRUTH_COLUMNS)
    assert list(meta.columns) == list(isic.METADATA_COLUMNS)
    assert gt.set_index("image").sum().to_dict() == {**{c: float(n) for c, n in CFG["class_counts"].items()}, "UNK": 0.0}
    per_lesion = meta.loc[meta["lesion_id"] != "", "lesion_id"].value_counts()
    assert (per_lesion == 3).all() and (meta["lesion_id"] == "").sum() == 1  # MEL 7 = 2 lesions + 1 solo
    manifest, counts = build_manifest(**isic.layout(demo / "isic2019"), not_skin_dir=demo / "not_skin", ood_dir=demo / "ood",
                                      labels_cfg=LABELS, bad_images="fail", masks_dir=demo / "isic2019" / "masks")
    assert counts.set_index("source")["used"].to_dict() == {"lesion": 34, "not_skin": 5, "ood": 4}
    assert (manifest.loc[manifest["source"] == "lesion", "mask_path"] != "").all()
    assert any("flower" in p for p in manifest.loc[manifest["source"] == "ood", "path"])


def test_masks_are_binary_and_cover_the_lesion(demo):
    for path in sorted((demo / "isic2019" / "masks").glob("*_mask.png"))[:5]:
        mask = np.asarray(Image.open(path))
        assert set(np.unique(mask)) <= {0, 255} and 0.02 < (mask > 0).mean() < 0.6


def test_classes_differ_in_lesion_colour(demo):
    gt = pd.read_csv(demo / "isic2019" / isic.GROUND_TRUTH).set_index("image")
    means = {}
    for cls in CFG["class_counts"]:
        colours = []
        for image in gt.index[gt[cls] == 1.0]:
            pixels = np.asarray(Image.open(demo / "isic2019" / isic.IMAGE_FOLDER / f"{image}.jpg"), float)
            mask = np.asarray(Image.open(demo / "isic2019" / "masks" / f"{image}_mask.png")) > 0
            colours.append(pixels[mask].mean(axis=0))
        means[cls] = np.mean(colours, axis=0)
    classes = list(means)
    closest = min(np.linalg.norm(means[a] - means[b]) for i, a in enumerate(classes) for b in classes[i + 1:])
    assert closest > 10, means


def test_unknown_demo_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match="data.demo: unknown key"):
        _generate(tmp_path, {**CFG, "n_images": 3})


def test_the_default_demo_has_every_class_in_every_split_and_ood_kinds_apart(repo, tmp_path):
    """config/config.yaml's demo (smaller pictures: the plan does not depend on their size) through
    the manifest and the splits: the official ISIC scorer needs every class in the test split."""
    from samderm.data.splits import make_splits

    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    demo = _generate(tmp_path, {**config["data"]["demo"], "image_size": 32})
    manifest, _ = build_manifest(**isic.layout(demo / "isic2019"), not_skin_dir=demo / "not_skin", ood_dir=demo / "ood",
                                 labels_cfg=config["labels"], bad_images="fail", unk=config["data"]["unk"])
    joined = manifest.merge(make_splits(manifest, config["splits"], config["data"]["ood_levels"]), on="image_id")
    lesions = joined[joined["source"] == "lesion"]
    table = pd.crosstab(lesions["lesion_class"], lesions["split"]).reindex(index=LABELS["lesion_classes"],
                                                                         columns=["train", "val", "test"], fill_value=0)
    assert (table >= 1).all().all(), table
    ood = joined[joined["source"] == "ood"]
    kinds = {split: set(ood.loc[ood["split"] == split, "category"]) for split in ("val", "test")}
    assert kinds["val"] and kinds["test"] and not kinds["val"] & kinds["test"], kinds
    assert kinds["val"] | kinds["test"] == {"flower", "objects", "science", "noise", "stripes", "skin_limb", "skin_torso"}
    # near OOD (clinical skin without a lesion) both tunes and tests, in different kinds
    for level in ("far", "near"):
        assert set(ood.loc[ood["ood_level"] == level, "split"]) == {"val", "test"}, level
    assert set(ood.loc[ood["ood_level"] == "near", "category"]) == {"skin_limb", "skin_torso"}


def test_ood_images_come_in_kinds_one_subfolder_each(demo, tmp_path):
    # 4 images, 4 kinds: the two near kinds come early in the cycle
    assert sorted(p.name for p in (demo / "ood").iterdir()) == ["flower", "objects", "skin_limb", "skin_torso"]
    with pytest.raises(ValueError, match="data.demo.ood: 0 or >= 2"):
        _generate(tmp_path, {**CFG, "ood": 1})


@pytest.mark.parametrize("kind", ["skin_limb", "skin_torso"])
def test_near_ood_is_clinical_skin_without_a_dermoscope_field(kind):
    """Near OOD: skin seen from a distance against the room, not a dermoscopy: no dark round field in
    the corners, and both skin and background in the picture."""
    from samderm.data.demo import OOD_KINDS, SKIN_TONES, rng_for

    for i in range(6):
        pixels = np.asarray(OOD_KINDS[kind](rng_for(0, kind, i), 96), dtype=float)
        corners = pixels[[0, 0, -1, -1], [0, -1, 0, -1]]
        assert corners.mean() > 60, (kind, i)  # a dermoscope darkens the corners to a sixth
        skin_like = np.min(np.linalg.norm(pixels[..., None, :] - SKIN_TONES[None, None], axis=-1), axis=-1) < 45
        assert 0.2 < skin_like.mean() < 0.98, (kind, i, skin_like.mean())


def test_the_unlabeled_pool_has_new_lesions_of_every_class_and_ood_and_not_skin_pictures(tmp_path):
    from samderm.data.demo import unlabeled_plan

    cfg = {**CFG, "unlabeled": 20}
    plan = unlabeled_plan(cfg)
    assert len(plan) == 20
    assert {c for kind, c in plan if kind == "lesion"} == set(CFG["class_counts"])
    assert sum(kind == "lesion" for kind, _ in plan) == 15 and {k for k, _ in plan} == {"lesion", "ood", "not_skin"}
    for n in range(30):  # any size, even fewer lesions than classes
        assert len(unlabeled_plan({**CFG, "unlabeled": n})) == n
    first, second = tmp_path / "a", tmp_path / "b"
    for root in (first, second):
        generate_demo(root / "isic2019", root / "not_skin", root / "ood", cfg, unlabeled_dir=root / "unlabeled")
    assert _digests(first / "unlabeled") == _digests(second / "unlabeled") and len(_digests(first / "unlabeled")) == 20
    labelled = {d for name, d in _digests(first).items() if not name.startswith("unlabeled")}
    assert not labelled & set(_digests(first / "unlabeled").values())  # new pictures, none a copy of a labelled one
    manifest, counts = build_manifest(**isic.layout(first / "isic2019"), not_skin_dir=first / "not_skin",
                                      ood_dir=first / "ood", labels_cfg=LABELS, bad_images="fail",
                                      unlabeled_dir=first / "unlabeled")
    assert counts.set_index("source").loc["unlabeled", "used"] == 20


def test_lesions_borrow_looks_at_the_configured_shares():
    draws = [drawn_looks("MEL", rng_for("looks", i), look_alike=0.25, label_noise=0.05) for i in range(4000)]
    wrong_label = np.mean([all(part != "MEL" for part in d) for d in draws])
    one_part = np.mean([sum(part != "MEL" for part in d) == 1 for d in draws])
    assert wrong_label == pytest.approx(0.05, abs=0.01)  # drawn wholly as another class
    assert one_part == pytest.approx(0.95 * 0.25, abs=0.02)  # a mimic: one of colour, shape, texture
    assert all(d == ("MEL",) * 3 for d in (drawn_looks("MEL", rng_for("looks", i), 0.0, 0.0) for i in range(50)))


def test_overlap_shares_over_one_are_refused(tmp_path):
    with pytest.raises(ValueError, match="look_alike and label_noise"):
        _generate(tmp_path, {**CFG, "look_alike": 0.8, "label_noise": 0.3})
