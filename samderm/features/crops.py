"""Lesion crops: a mask (from a file or SAM2 prompted at the image centre) -> its bounding
box with a margin, or a counted fallback to the full image when the mask is implausible.
Masks are reduced to their extent once per view (samderm.features.masks); every encoder's
crop box is computed from that extent."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from sam2.modeling.sam2_base import SAM2Base
from sam2.sam2_image_predictor import SAM2ImagePredictor

Box = tuple[int, int, int, int]  # left, top, right, bottom (PIL crop convention, right/bottom exclusive)


@dataclass(frozen=True)
class CropSettings:
    mask_source: str = "auto"  # auto | files | sam2
    segmenter: str | None = None  # the SAM2 encoder that segments (None: the first SAM2 one)
    resolution: int = 1024  # the segmenter's input size
    margin: float = 0.1
    min_area: float = 0.01
    max_area: float = 0.9
    overlays: int = 6

    @classmethod
    def from_config(cls, cfg: dict) -> "CropSettings":
        settings = cls(**cfg)
        if settings.mask_source not in ("auto", "files", "sam2"):
            raise ValueError(f"features.crop.mask_source {settings.mask_source!r}: use auto, files or sam2")
        return settings


def mask_extent(mask: np.ndarray) -> dict:
    """What a crop box needs of a mask: its size, lesion pixel count and tight bounding box
    (-1 when empty); small enough to store for every view instead of the mask."""
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    extent = {"width": width, "height": height, "mask_pixels": int(mask.sum()),
              "left": -1, "top": -1, "right": -1, "bottom": -1}
    if extent["mask_pixels"]:
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        extent.update(left=int(cols[0]), top=int(rows[0]), right=int(cols[-1]) + 1, bottom=int(rows[-1]) + 1)
    return extent


def box_from_extent(extent, settings: CropSettings) -> tuple[Box | None, str]:
    """The margin-padded box of a plausible mask's extent, else (None, why it fell back)."""
    width, height = int(extent["width"]), int(extent["height"])
    area = int(extent["mask_pixels"]) / (width * height)
    if area == 0:
        return None, "empty mask"
    if area < settings.min_area:
        return None, f"mask area {area:.4f} < min_area {settings.min_area}"
    if area > settings.max_area:
        return None, f"mask area {area:.4f} > max_area {settings.max_area}"
    left, top, right, bottom = (int(extent[k]) for k in ("left", "top", "right", "bottom"))
    pad_y, pad_x = settings.margin * (bottom - top), settings.margin * (right - left)
    return (
        int(max(0, np.floor(left - pad_x))),
        int(max(0, np.floor(top - pad_y))),
        int(min(width, np.ceil(right + pad_x))),
        int(min(height, np.ceil(bottom + pad_y))),
    ), ""


def lesion_box(mask: np.ndarray, settings: CropSettings) -> tuple[Box | None, str]:
    """The margin-padded bounding box of a plausible mask, else (None, why it fell back)."""
    return box_from_extent(mask_extent(mask), settings)


def load_mask(path: str | Path, size: tuple[int, int]) -> Image.Image:
    """A mask file as an L image (nonzero = lesion) of the image's size."""
    mask = Image.open(path).convert("L")
    if mask.size != size:
        raise ValueError(f"{path}: mask size {mask.size} differs from its image's size {size}")
    return mask


class CentrePromptSegmenter:
    """SAM2's own image predictor, prompted with one foreground point at the image centre."""

    def __init__(self, model: SAM2Base):
        with warnings.catch_warnings():  # sam2's own torch.jit.script call
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
            self.predictor = SAM2ImagePredictor(model)
        s = model.image_size
        # the predictor hard-codes the 1024-px feature sizes; other sizes need their own
        self.predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]

    def __call__(self, image: Image.Image) -> np.ndarray:
        width, height = image.size
        logging.disable(logging.INFO)  # the predictor logs two INFO lines per image to the root logger
        try:
            self.predictor.set_image(image)
            masks, scores, _ = self.predictor.predict(
                point_coords=np.array([[width / 2, height / 2]]), point_labels=np.array([1]), multimask_output=True
            )
        finally:
            logging.disable(logging.NOTSET)
        return masks[int(np.argmax(scores))] > 0


def draw_overlay(image: Image.Image, box: Box | None, note: str) -> Image.Image:
    """Original with the crop box drawn (left) beside what the encoder sees (right)."""
    crop = image.crop(box) if box else image
    crop = crop.resize(image.size)
    panel = Image.new("RGB", (2 * image.width, image.height + 14), "white")
    framed = image.copy()
    if box:
        ImageDraw.Draw(framed).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=(0, 255, 0), width=2)
    panel.paste(framed, (0, 14))
    panel.paste(crop, (image.width, 14))
    ImageDraw.Draw(panel).text((2, 1), note, fill=(0, 0, 0))
    return panel
