"""One feature store: every view of a view set through SAM2's encoder, pooled, saved in
resumable shards and joined into features.npy + index.tsv + settings.json."""

from __future__ import annotations

import logging
import platform
from collections import Counter
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader

from samderm.features.crops import CentrePromptSegmenter, CropSettings, draw_overlay, lesion_box
from samderm.features.dataset import EncoderInputs, ShardBatches, ViewPixels, collate_list, render, worker_init
from samderm.features.encoder import SAM2_CONFIGS, PooledEncoder, build_sam2_model, feature_dim
from samderm.features.preprocess import normalise
from samderm.features.shards import ShardDir
from samderm.features.store import write_store
from samderm.features.viewsets import store_views
from samderm.io import atomic_path, write_tsv
from samderm.logs import progress

log = logging.getLogger(__name__)
CROP_COLUMNS = ["view_id", "left", "top", "right", "bottom", "mask_source", "fallback"]


@dataclass(frozen=True)
class FeatureSet:
    encoder: str
    pooling: str
    resolution: int
    crop: str  # full | lesion
    viewset: str  # images | aug-<balancing>


def resolve_device(setting: str) -> torch.device:
    """auto = cuda when visible, else cpu, said in the log; cuda when none is visible is an error."""
    if setting == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        log.info("using GPU %s", torch.cuda.get_device_name(0))
        return torch.device("cuda")
    if setting == "cuda":
        raise RuntimeError("features.device is cuda but torch sees no GPU")
    log.warning("no GPU visible (torch.cuda.is_available() is False): extracting on CPU")
    return torch.device("cpu")


def package_versions() -> dict[str, str]:
    names = ("torch", "torchvision", "sam2", "numpy", "pillow", "samderm")
    return {"python": platform.python_version(), **{n: version(n) for n in names}}


def make_loader(dataset, shards, batch_size: int, num_workers: int, pin: bool, collate=None) -> DataLoader:
    return DataLoader(
        dataset,
        batch_sampler=ShardBatches(shards, batch_size),
        num_workers=num_workers,
        pin_memory=pin,
        worker_init_fn=worker_init,
        collate_fn=collate,
        # two batches decoded ahead per worker keep the encoder fed; more only holds memory
        prefetch_factor=2 if num_workers else None,
    )


class FeatureExtractor:
    """Holds the model and settings of one feature set; ``run`` fills one store."""

    def __init__(self, feature_set: FeatureSet, features_cfg: dict, encoder_cfg: dict, threads: int = 1):
        self.fs = feature_set
        self.cfg = features_cfg
        self.crop = CropSettings.from_config(features_cfg.get("crop", {}))
        if feature_set.crop not in ("full", "lesion"):
            raise ValueError(f"crop {feature_set.crop!r}: use full or lesion")
        torch.set_num_threads(max(1, threads))
        self.device = resolve_device(features_cfg["device"])
        self.cuda = self.device.type == "cuda"
        self.model, self.checkpoint_sha256 = build_sam2_model(
            feature_set.encoder, feature_set.resolution, encoder_cfg.get("checkpoint"),
            encoder_cfg.get("sha256"), device=str(self.device),
        )
        self.checkpoint = encoder_cfg.get("checkpoint")
        self.encoder = PooledEncoder(self.model, feature_set.pooling)
        if self.cuda:
            self.encoder = self.encoder.to(memory_format=torch.channels_last)

    def settings(self) -> dict:
        """Everything the numbers depend on (the shard fingerprint and the base of settings.json)."""
        return {
            **asdict(self.fs),
            "sam2_config": SAM2_CONFIGS[self.fs.encoder],
            "dim": feature_dim(self.fs.pooling),
            "dtype": self.cfg["dtype"],
            "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
            "checkpoint_sha256": self.checkpoint_sha256,
            "random_weights": self.checkpoint_sha256 is None,
            "crop_settings": asdict(self.crop) if self.fs.crop == "lesion" else None,
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
            return self.encoder(images).float().cpu().numpy()

    def run(self, store_dir: str | Path, manifest: str | Path, views_path: str | Path | None = None) -> dict:
        store_dir = Path(store_dir)
        views = store_views(manifest, self.fs.viewset, views_path)
        ids = views["view_id"].tolist()
        if not ids:
            raise ValueError(f"{store_dir}: view set {self.fs.viewset!r} has no views in {views_path or manifest}")
        base = self.settings()
        shards = ShardDir(store_dir.parent / f"{store_dir.name}.shards", len(ids), self.cfg["shard_size"], base)
        log.info("%s: %d views of %s in %d shards", store_dir, len(ids), self.fs.viewset, len(shards.ranges))
        boxes, crops = self._lesion_boxes(views, shards) if self.fs.crop == "lesion" else (None, None)
        self._encode(views, shards, boxes)
        blocks = (shards.load_features(k) for k in range(len(shards.ranges)))
        fallbacks = self._write_crop_outputs(store_dir, views, crops)
        settings = {**base, "n_views": len(ids), "crop_fallbacks": len(fallbacks)}
        if crops is not None:
            settings["mask_sources"] = dict(Counter(crops["mask_source"]))
        write_store(store_dir, ids, blocks, base["dim"], self.cfg["dtype"], settings)
        shards.remove()
        log.info("wrote %s: %d x %d %s features, %d crop fallbacks", store_dir, len(ids), base["dim"],
                 self.cfg["dtype"], len(fallbacks))
        return settings

    def _lesion_boxes(self, views: pd.DataFrame, shards: ShardDir):
        use_files = self.crop.mask_source in ("auto", "files")
        if self.crop.mask_source == "files":
            no_mask = views.loc[views["mask_path"] == "", "view_id"].tolist()
            if no_mask:
                raise ValueError(f"features.crop.mask_source is files but {len(no_mask)} view(s) have no "
                                 f"mask_path in the manifest, e.g. {no_mask[:5]}")
        ids = views["view_id"].tolist()
        todo = [r for k, r in enumerate(shards.ranges) if not shards.has(k, "crops.tsv", ids[r.start:r.stop])]
        log.info("lesion crops: %d of %d shards to segment (mask source %s)", len(todo), len(shards.ranges),
                 self.crop.mask_source)
        segmenter = CentrePromptSegmenter(self.model) if self.crop.mask_source != "files" else None
        loader = make_loader(ViewPixels(views, use_files), todo, self.cfg["batch_size"], self.cfg["num_workers"],
                             pin=False, collate=collate_list)
        rows: dict[int, list] = {}
        for batch in progress(loader, "segment lesions", total=len(loader), unit="batch"):
            for i, pixels, mask in batch:
                source = "file" if mask is not None else "sam2"
                if mask is None:
                    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda):
                        mask = segmenter(Image.fromarray(pixels))
                box, reason = lesion_box(mask, self.crop)
                k = i // self.cfg["shard_size"]
                rows.setdefault(k, []).append([ids[i], *(box or ("", "", "", "")), source, reason])
                if len(rows[k]) == len(shards.ranges[k]):
                    shards.save_table(k, "crops.tsv", pd.DataFrame(rows.pop(k), columns=CROP_COLUMNS))
        crops = pd.concat([shards.load_table(k, "crops.tsv") for k in range(len(shards.ranges))], ignore_index=True)
        boxes = [_box(row) for _, row in crops.iterrows()]
        log.info("lesion crops: %d cropped, %d fell back to the full image; masks: %s",
                 sum(b is not None for b in boxes), sum(b is None for b in boxes),
                 dict(Counter(crops["mask_source"])))
        return boxes, crops

    def _encode(self, views: pd.DataFrame, shards: ShardDir, boxes) -> None:
        ids = views["view_id"].tolist()
        todo = [r for k, r in enumerate(shards.ranges) if not shards.has(k, "features.npz", ids[r.start:r.stop])]
        log.info("encoder: %d of %d shards to compute (%d views) on %s", len(todo), len(shards.ranges),
                 sum(map(len, todo)), self.device.type)
        # on a GPU the workers only decode and crop; the resize and normalisation run on the GPU
        dataset = EncoderInputs(views, self.fs.resolution, boxes, normalise_here=not self.cuda)
        loader = make_loader(dataset, todo, self.cfg["batch_size"], self.cfg["num_workers"], pin=self.cuda,
                             collate=collate_list if self.cuda else None)
        parts: dict[int, list[np.ndarray]] = {}
        for batch in progress(loader, "encode views", total=len(loader), unit="batch"):
            if self.cuda:
                positions = [i for i, _ in batch]
                images = torch.stack([normalise(p.to(self.device, non_blocking=True), self.fs.resolution)
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
            lost = crops["fallback"] != ""
            fallbacks = pd.DataFrame({"view_id": crops.loc[lost, "view_id"],
                                      "image_id": views.loc[lost, "image_id"], "reason": crops.loc[lost, "fallback"]})
        write_tsv(fallbacks, store_dir / "crop_fallbacks.tsv")
        overlay_dir = store_dir / "overlays"
        overlay_dir.mkdir(parents=True, exist_ok=True)
        if crops is not None and self.fs.viewset == "images":
            for i in range(min(self.crop.overlays, len(views))):
                row, crop = views.iloc[i], crops.iloc[i]
                image, _ = render(row, with_mask=False)
                box = _box(crop)
                note = f"{row['view_id']}: " + (f"fallback ({crop['fallback']})" if box is None else f"{crop['mask_source']} mask")
                with atomic_path(overlay_dir / f"{row['view_id']}.png") as tmp:
                    draw_overlay(image, box, note).save(tmp, format="PNG")
        return fallbacks


def _box(crop: pd.Series):
    """A crops.tsv row's box, or None where it fell back to the full image."""
    return None if crop["fallback"] else tuple(int(crop[c]) for c in ("left", "top", "right", "bottom"))


def extract_feature_store(
    store_dir: str | Path,
    manifest: str | Path,
    feature_set: dict,
    features_cfg: dict,
    encoder_cfg: dict,
    views: str | Path | None = None,
    threads: int = 1,
) -> dict:
    """Fill ``store_dir`` (a feature store) and return its settings."""
    feature_set = {**feature_set, "resolution": int(feature_set["resolution"])}
    extractor = FeatureExtractor(FeatureSet(**feature_set), features_cfg, encoder_cfg, threads)
    return extractor.run(store_dir, manifest, views)
