"""Features of decoded images held in memory (no manifest, no store): the same encoder, lesion
crop box, preprocessing, batch size and stored dtype as ``extract_features``, for new images."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from samderm.features.crops import Box, CentrePromptSegmenter, CropSettings, box_from_extent, load_mask, mask_extent
from samderm.features.extract import FeatureExtractor, FeatureSet
from samderm.features.preprocess import pixels
from samderm.features.spec import resolve_encoder


class InMemoryFeatures:
    """``feature_set``: encoder, pooling, resolution, crop (one store's settings, view set ``images``)."""

    def __init__(self, feature_set: dict, features_cfg: dict, encoder_cfg: dict, threads: int = 1):
        self.extractor = FeatureExtractor(FeatureSet(**feature_set, viewset="images"), features_cfg, encoder_cfg, threads)

    @property
    def dim(self) -> int:
        return self.extractor.encoder.dim

    def __call__(self, images: Sequence[Image.Image], boxes: Sequence[Box | None] | None = None) -> np.ndarray:
        """N x dim float32, each image cropped to its box (None = full), batched as the store's shards."""
        ex = self.extractor
        boxes = boxes if boxes is not None else [None] * len(images)
        crops = [image.crop(box) if box else image for image, box in zip(images, boxes)]
        # the GPU path of FeatureExtractor._encode: sam2 resizes and normalises on the device
        on_device = ex.cuda and ex.encoder.device_preprocess is not None
        blocks = []
        for start in range(0, len(crops), ex.cfg["batch_size"]):
            batch = crops[start:start + ex.cfg["batch_size"]]
            if on_device:
                inputs = torch.stack([ex.encoder.device_preprocess(pixels(c).to(ex.device)) for c in batch])
            else:
                inputs = torch.stack([ex.encoder.preprocess(c) for c in batch])
            # stored in the store's dtype, read back as float32: the numbers the heads were trained on
            blocks.append(ex.encode(inputs).astype(ex.cfg["dtype"]))
        if not blocks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(blocks).astype(np.float32)


class LesionBoxes:
    """Each image's lesion crop box as ``segment_lesions`` + ``extract_features`` compute it: its mask
    file where ``mask_source`` allows one, else SAM2 prompted at the centre; the same fallbacks."""

    def __init__(self, crop_cfg: dict, segmenter: str | None, segmenter_cfg: dict | None, device: torch.device):
        self.settings = CropSettings.from_config(crop_cfg)
        self.segmenter, self.segmenter_cfg, self.device = segmenter, segmenter_cfg, device
        self._segment = None

    def __call__(self, image: Image.Image, mask_path: str | Path | None = None) -> tuple[Box | None, str, str]:
        """(box or None, why it fell back or "", mask source: file | sam2)."""
        mode = self.settings.mask_source
        if mode == "files" and not mask_path:
            raise ValueError("features.crop.mask_source is files: every image needs its mask file")
        if mask_path and mode in ("auto", "files"):
            mask, source = np.asarray(load_mask(mask_path, image.size)) > 0, "file"
        else:
            mask, source = self._sam2_mask(image), "sam2"
        box, fallback = box_from_extent(mask_extent(mask), self.settings)
        return box, fallback, source

    def _sam2_mask(self, image: Image.Image) -> np.ndarray:
        if self._segment is None:
            if not self.segmenter:
                raise ValueError("lesion crops of an image without a mask file need features.crop.segmenter")
            from samderm.features.encoder import build_sam2_model

            cfg = resolve_encoder(self.segmenter, self.segmenter_cfg)
            model, _ = build_sam2_model(cfg.get("config") or cfg["size"], self.settings.resolution, cfg["checkpoint"],
                                        cfg["sha256"], device=str(self.device), name=self.segmenter)
            self._segment = CentrePromptSegmenter(model)
        # segment_lesions runs the predictor on the decoded pixels, under the same contexts
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            return self._segment(Image.fromarray(np.asarray(image)))
