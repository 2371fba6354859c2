"""Lesion crops: the box from a mask, fallbacks that are counted, crops that reach the encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from samderm.data.augment import render_view
from samderm.features.crops import CentrePromptSegmenter, CropSettings, lesion_box
from samderm.features.encoder import PooledEncoder
from samderm.features.extract import extract_feature_store
from samderm.features.masks import read_masks, segment_lesions
from samderm.features.preprocess import preprocess
from samderm.io import CorruptFileError, file_digest, read_tsv, write_tsv
from samderm.features.store import read_store
from tests.damage import DAMAGE, damage

from .conftest import RESOLUTION, features_cfg

FS = {"encoder": "tiny", "pooling": "mean", "resolution": RESOLUTION, "crop": "lesion"}


def masks_and_store(tmp_path, dataset, cfg, viewset="images"):
    """The shared mask pass, then one lesion-crop store that reads it: (store dir, its settings)."""
    views = dataset["views"] if viewset != "images" else None
    mask_dir = tmp_path / "masks" / viewset
    segment_lesions(mask_dir, dataset["manifest"], viewset, cfg["crop"]["mask_source"], "tiny", {"checkpoint": None},
                    RESOLUTION, cfg, views=views)
    store = tmp_path / "lesion" / viewset
    settings = extract_feature_store(store, dataset["manifest"], {**FS, "viewset": viewset}, cfg,
                                     {"checkpoint": None}, views=views, masks=mask_dir)
    return store, settings


def test_box_has_margin_and_is_clipped():
    mask = np.zeros((100, 100), bool)
    mask[20:40, 30:70] = True  # 20 rows x 40 columns
    assert lesion_box(mask, CropSettings(margin=0.1)) == ((26, 18, 74, 42), "")
    mask = np.zeros((100, 100), bool)
    mask[0:30, 80:100] = True
    assert lesion_box(mask, CropSettings(margin=0.5)) == ((70, 0, 100, 45), "")


@pytest.mark.parametrize(
    "area, reason",
    [(0, "empty mask"), (5, "mask area 0.0005 < min_area 0.01"), (95 * 100, "mask area 0.9500 > max_area 0.9")],
)
def test_implausible_masks_fall_back(area, reason):
    mask = np.zeros(100 * 100, bool)
    mask[:area] = True
    assert lesion_box(mask.reshape(100, 100), CropSettings()) == (None, reason)


def _encode(model, image):
    with torch.inference_mode():
        return PooledEncoder(model, "mean")(preprocess(image, RESOLUTION)[None])[0].numpy()


def test_mask_file_crops_reach_the_encoder_and_fallbacks_are_counted(dataset, tmp_path, tiny_model):
    # img001's mask covers everything, img002's is empty: both must fall back to the full image
    root = dataset["root"]
    Image.new("L", Image.open(root / "img001_mask.png").size, 255).save(root / "img001_mask.png")
    Image.new("L", Image.open(root / "img002_mask.png").size, 0).save(root / "img002_mask.png")
    cfg = features_cfg(crop={**features_cfg()["crop"], "mask_source": "files"})
    store, settings = masks_and_store(tmp_path, dataset, cfg)

    ids, feats, saved = read_store(store)
    fallbacks = read_tsv(store / "crop_fallbacks.tsv")
    assert fallbacks["view_id"].tolist() == ["img001", "img002"]
    assert fallbacks["reason"].tolist() == ["mask area 1.0000 > max_area 0.9", "empty mask"]
    assert saved["crop_fallbacks"] == settings["crop_fallbacks"] == 2
    assert saved["mask_sources"] == {"file": 7}
    assert len(list((store / "overlays").glob("*.png"))) == 2
    for i, view_id in enumerate(ids):
        image = Image.open(root / f"{view_id}.png").convert("RGB")
        box, _ = lesion_box(np.asarray(Image.open(root / f"{view_id}_mask.png")) > 0, CropSettings())
        expected = _encode(tiny_model, image.crop(box) if box else image)
        np.testing.assert_allclose(feats[i], expected, rtol=1e-4, atol=1e-5, err_msg=view_id)


def test_augmented_copies_crop_with_the_transformed_mask(dataset, tmp_path, tiny_model):
    cfg = features_cfg(crop={**features_cfg()["crop"], "mask_source": "files"})
    store, _ = masks_and_store(tmp_path, dataset, cfg, "aug-smart")
    ids, feats, _ = read_store(store)
    views = read_tsv(dataset["views"]).set_index("view_id")
    assert ids == ["img000__aug1", "img000__aug2", "img001__aug1", "img001__aug2"]
    assert not (store / "overlays").exists() or not any((store / "overlays").iterdir())


    for i, view_id in enumerate(ids):
        image_id = views.loc[view_id, "image_id"]
        image, mask = render_view(Image.open(dataset["root"] / f"{image_id}.png").convert("RGB"),
                                  json.loads(views.loc[view_id, "transform"]),
                                  Image.open(dataset["root"] / f"{image_id}_mask.png").convert("L"))
        box, reason = lesion_box(np.asarray(mask) > 0, CropSettings())
        assert box is not None, reason
        np.testing.assert_allclose(feats[i], _encode(tiny_model, image.crop(box)), rtol=1e-4, atol=1e-5)


def test_files_mode_names_views_without_masks(dataset, tmp_path):
    manifest = read_tsv(dataset["manifest"])
    manifest.loc[manifest["image_id"] == "img003", "mask_path"] = ""
    write_tsv(manifest, dataset["manifest"])
    cfg = features_cfg(crop={**features_cfg()["crop"], "mask_source": "files"})
    with pytest.raises(ValueError, match=r"1 view\(s\) have no mask_path .*\['img003'\]"):
        segment_lesions(tmp_path / "m", dataset["manifest"], "images", "files", "tiny", {"checkpoint": None},
                        RESOLUTION, cfg)


@pytest.mark.parametrize("how", [*DAMAGE, "unrecorded"])
def test_a_damaged_or_unrecorded_mask_store_is_refused_naming_it_and_the_rebuild(dataset, tmp_path, how):
    cfg = features_cfg(crop={**features_cfg()["crop"], "mask_source": "files"})
    mask_dir = tmp_path / "masks" / "images"
    segment_lesions(mask_dir, dataset["manifest"], "images", "files", "tiny", {"checkpoint": None}, RESOLUTION, cfg)
    written, path = json.loads((mask_dir / "settings.json").read_text()), mask_dir / "masks.tsv"
    assert written["files"] == {"masks.tsv": file_digest(path)}
    ids = read_tsv(path)["view_id"].tolist()
    masks, settings = read_masks(mask_dir, ids)  # untouched: it reads, its settings less the record
    assert masks.equals(read_tsv(path)) and settings == {k: v for k, v in written.items() if k != "files"}

    if how == "unrecorded":
        (mask_dir / "settings.json").write_text(json.dumps({**written, "files": {}}))
    else:
        damage(path, how)
    with pytest.raises(CorruptFileError) as refused:
        read_masks(mask_dir, ids)
    said = "has no recorded checksum in" if how == "unrecorded" else "is damaged: "
    assert f"{path} {said}" in str(refused.value) and str(mask_dir / "settings.json") in str(refused.value)
    assert "Rebuild it: delete it and run the study again" in str(refused.value)
    assert f"rm {path} && snakemake --profile slurm" in str(refused.value)


def test_sam2_centre_prompt_crops_reconcile(dataset, tmp_path):
    cfg = features_cfg(crop={**features_cfg()["crop"], "mask_source": "sam2"})
    store, settings = masks_and_store(tmp_path, dataset, cfg)
    assert settings["mask_sources"] == {"sam2": 7}
    assert settings["crop_fallbacks"] == len(read_tsv(store / "crop_fallbacks.tsv"))
    assert settings["n_views"] == 7


def test_segmenter_returns_a_mask_of_the_image_size(tiny_model):
    image = Image.fromarray(np.full((50, 70, 3), 128, np.uint8))
    mask = CentrePromptSegmenter(tiny_model)(image)
    assert mask.shape == (50, 70) and mask.dtype == bool


def test_a_timm_encoder_crops_with_the_same_shared_masks(dataset, tmp_path):
    """A second family reads the one mask store: its crops are those boxes, through timm's transform."""
    from samderm.features.families import build_encoder

    cfg = features_cfg(num_workers=1, crop={**features_cfg()["crop"], "mask_source": "files"})
    mask_dir = tmp_path / "masks" / "images"
    segment_lesions(mask_dir, dataset["manifest"], "images", "files", "tiny", {"checkpoint": None}, RESOLUTION, cfg)
    vit = {"family": "timm", "model": "vit_tiny_patch16_224", "pretrained": False}
    store = tmp_path / "vit" / "lesion" / "images"
    settings = extract_feature_store(store, dataset["manifest"], {**FS, "encoder": "vit", "viewset": "images"}, cfg,
                                     vit, masks=mask_dir)
    assert (settings["family"], settings["dim"], settings["random_weights"]) == ("timm", 192, True)
    ids, feats, _ = read_store(store)
    encoder = build_encoder("vit", vit, RESOLUTION, "mean")
    for i, view_id in enumerate(ids):
        image = Image.open(dataset["root"] / f"{view_id}.png").convert("RGB")
        box, _ = lesion_box(np.asarray(Image.open(dataset["root"] / f"{view_id}_mask.png")) > 0, CropSettings())
        with torch.inference_mode():
            expected = encoder.module(encoder.preprocess(image.crop(box) if box else image)[None])[0].numpy()
        np.testing.assert_allclose(feats[i], expected, rtol=1e-4, atol=1e-5, err_msg=view_id)
