"""One feature store: every view of a view set through one named encoder (any family), cropped
to the shared lesion-mask store's boxes where asked, pooled, saved in resumable shards and
joined into features.npy + index.tsv + settings.json."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from samderm.features.crops import CropSettings, box_from_extent, draw_overlay
from samderm.features.dataset import EncoderInputs, collate_list, render
from samderm.features.families import build_encoder
from samderm.features.masks import read_masks
from samderm.features.preprocess import pixels
from samderm.features.runtime import keep_freed_memory, make_loader, package_versions, resolve_device
from samderm.features.shards import ShardDir
from samderm.features.spec import random_weights, resolve_encoder
from samderm.features.store import write_store
from samderm.features.viewsets import store_views
from samderm.io import atomic_path, write_tsv
from samderm.logs import progress

__all__ = ["FeatureExtractor", "FeatureSet", "extract_feature_store", "resolve_device"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureSet:
    encoder: str  # a name in the config's encoders
    pooling: str
    resolution: int
    crop: str  # full | lesion
    viewset: str  # images | aug-<balancing>


class FeatureExtractor:
    """Holds the encoder and settings of one feature set; ``run`` fills one store."""

    def __init__(self, feature_set: FeatureSet, features_cfg: dict, encoder_cfg: dict, threads: int = 1):
        self.fs = feature_set
        self.cfg = features_cfg
        self.crop = CropSettings.from_config(features_cfg.get("crop", {}))
        if feature_set.crop not in ("full", "lesion"):
            raise ValueError(f"crop {feature_set.crop!r}: use full or lesion")
        torch.set_num_threads(max(1, threads))
        keep_freed_memory()
        self.device = resolve_device(features_cfg["device"])
        self.cuda = self.device.type == "cuda"
        self.encoder_cfg = resolve_encoder(feature_set.encoder, encoder_cfg)
        self.encoder = build_encoder(feature_set.encoder, self.encoder_cfg, feature_set.resolution,
                                     feature_set.pooling, str(self.device))
        if self.cuda:
            self.encoder.module = self.encoder.module.to(memory_format=torch.channels_last)

    def settings(self) -> dict:
        """Everything the numbers depend on (the shard fingerprint and the base of settings.json)."""
        checkpoint = self.encoder_cfg["checkpoint"]
        return {
            **asdict(self.fs),
            **self.encoder.description,
            "dim": self.encoder.dim,
            "dtype": self.cfg["dtype"],
            "checkpoint": None if checkpoint is None else str(checkpoint),
            "checkpoint_sha256": self.encoder.checkpoint_sha256,
            "random_weights": random_weights(self.encoder_cfg),
            "crop_settings": {k: v for k, v in asdict(self.crop).items() if k != "overlays"}
            if self.fs.crop == "lesion" else None,
            "batch_size": self.cfg["batch_size"],
            "shard_size": self.cfg["shard_size"],
            "device": self.device.type,
            "versions": package_versions(),
        }

    def encode(self, images: torch.Tensor) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda):
            images = images.to(self.device, non_blocking=True)
            if self.cuda:
                images = images.contiguous(memory_format=torch.channels_last)
            return self.encoder.module(images).float().cpu().numpy()

    def run(self, store_dir: str | Path, manifest: str | Path, views_path: str | Path | None = None,
            mask_dir: str | Path | None = None) -> dict:
        store_dir = Path(store_dir)
        views = store_views(manifest, self.fs.viewset, views_path)
        ids = views["view_id"].tolist()
        if not ids:
            raise ValueError(f"{store_dir}: view set {self.fs.viewset!r} has no views in {views_path or manifest}")
        masks = mask_settings = None
        if self.fs.crop == "lesion":
            if mask_dir is None:
                raise ValueError(f"{store_dir}: lesion crops need the view set's lesion-mask store")
            masks, mask_settings = read_masks(mask_dir, ids)
        base = {**self.settings(), "masks": mask_settings and {k: v for k, v in mask_settings.items() if k != "versions"}}
        shards = ShardDir(store_dir.parent / f"{store_dir.name}.shards", len(ids), self.cfg["shard_size"], base)
        log.info("%s: %d views of %s in %d shards", store_dir, len(ids), self.fs.viewset, len(shards.ranges))
        crops = self._crops(views, masks) if masks is not None else None
        self._encode(views, shards, None if crops is None else crops["box"].tolist())
        blocks = (shards.load_features(k) for k in range(len(shards.ranges)))
        fallbacks = self._write_crop_outputs(store_dir, views, crops)
        settings = {**base, "n_views": len(ids), "crop_fallbacks": len(fallbacks)}
        if masks is not None:
            settings["mask_sources"] = mask_settings["mask_sources"]
        write_store(store_dir, ids, blocks, self.encoder.dim, self.cfg["dtype"], settings)
        shards.remove()
        log.info("wrote %s: %d x %d %s features, %d crop fallbacks", store_dir, len(ids), self.encoder.dim,
                 self.cfg["dtype"], len(fallbacks))
        return settings

    def _crops(self, views: pd.DataFrame, masks: pd.DataFrame) -> pd.DataFrame:
        """Each view's crop box (None = fallback to the full image) and why it fell back."""
        boxes = [box_from_extent(extent, self.crop) for _, extent in masks.iterrows()]
        crops = pd.DataFrame({"view_id": views["view_id"], "image_id": views["image_id"],
                              "box": [b for b, _ in boxes], "fallback": [r for _, r in boxes],
                              "mask_source": masks["mask_source"]})
        log.info("lesion crops: %d cropped, %d fell back to the full image", crops["box"].notna().sum(),
                 crops["box"].isna().sum())
        return crops

    def _encode(self, views: pd.DataFrame, shards: ShardDir, boxes) -> None:
        ids = views["view_id"].tolist()
        todo = [r for k, r in enumerate(shards.ranges) if not shards.has(k, "features.npz", ids[r.start:r.stop])]
        log.info("encoder: %d of %d shards to compute (%d views) on %s", len(todo), len(shards.ranges),
                 sum(map(len, todo)), self.device.type)
        # SAM2 on a GPU: workers only decode and crop; the resize and normalisation run on the GPU
        on_device = self.cuda and self.encoder.device_preprocess is not None
        dataset = EncoderInputs(views, pixels if on_device else self.encoder.preprocess, boxes)
        loader = make_loader(dataset, todo, self.cfg["batch_size"], self.cfg["num_workers"], pin=self.cuda,
                             collate=collate_list if on_device else None)
        parts: dict[int, list[np.ndarray]] = {}
        for batch in progress(loader, "encode views", total=len(loader), unit="batch"):
            if on_device:
                positions = [i for i, _ in batch]
                images = torch.stack([self.encoder.device_preprocess(p.to(self.device, non_blocking=True))
                                      for _, p in batch])
            else:
                positions, images = batch
            k = int(positions[0]) // self.cfg["shard_size"]
            parts.setdefault(k, []).append(self.encode(images).astype(self.cfg["dtype"]))
            r = shards.ranges[k]
            if sum(map(len, parts[k])) == len(r):
                shards.save_features(k, ids[r.start:r.stop], np.concatenate(parts.pop(k)))

    def _write_crop_outputs(self, store_dir: Path, views: pd.DataFrame, crops: pd.DataFrame | None) -> pd.DataFrame:
        """crop_fallbacks.tsv (header only for full crops) and, for the lesion images store, overlays/."""
        columns = ["view_id", "image_id", "reason"]
        fallbacks = pd.DataFrame(columns=columns)
        if crops is not None:
            lost = crops[crops["fallback"] != ""]
            fallbacks = pd.DataFrame({"view_id": lost["view_id"], "image_id": lost["image_id"],
                                      "reason": lost["fallback"]})
        write_tsv(fallbacks, store_dir / "crop_fallbacks.tsv")
        overlay_dir = store_dir / "overlays"
        overlay_dir.mkdir(parents=True, exist_ok=True)
        if crops is not None and self.fs.viewset == "images":
            for i in range(min(self.crop.overlays, len(views))):
                row, crop = views.iloc[i], crops.iloc[i]
                image, _ = render(row, with_mask=False)
                note = f"{row['view_id']}: " + (f"fallback ({crop['fallback']})" if crop["box"] is None
                                                 else f"{crop['mask_source']} mask")
                with atomic_path(overlay_dir / f"{row['view_id']}.png") as tmp:
                    draw_overlay(image, crop["box"], note).save(tmp, format="PNG")
        return fallbacks


def extract_feature_store(
    store_dir: str | Path,
    manifest: str | Path,
    feature_set: dict,
    features_cfg: dict,
    encoder_cfg: dict,
    views: str | Path | None = None,
    threads: int = 1,
    masks: str | Path | None = None,
) -> dict:
    """Fill ``store_dir`` (a feature store) and return its settings; ``masks``: the view set's
    lesion-mask store (samderm.features.masks), needed for lesion crops."""
    feature_set = {**feature_set, "resolution": int(feature_set["resolution"])}
    extractor = FeatureExtractor(FeatureSet(**feature_set), features_cfg, encoder_cfg, threads)
    return extractor.run(store_dir, manifest, views, masks)
