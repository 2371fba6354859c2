"""Pixels to encoder input exactly as SAM2's own image predictor prepares them: ToTensor
(uint8 -> float / 255), resize to s x s, ImageNet mean and std."""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import torch
from PIL import Image
from sam2.utils.transforms import SAM2Transforms


@lru_cache(maxsize=4)
def _sam2_transforms(resolution: int) -> SAM2Transforms:
    # the very object SAM2ImagePredictor uses; its .transforms are the resize and normalisation
    with warnings.catch_warnings():  # sam2's own torch.jit.script call; once per worker is noise
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        return SAM2Transforms(resolution=resolution, mask_threshold=0.0)


def pixels(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> 3 x H x W uint8 tensor (what ToTensor reads, before it scales)."""
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def normalise(image_pixels: torch.Tensor, resolution: int) -> torch.Tensor:
    """3 x H x W uint8 (on any device) -> 3 x s x s float, as ToTensor then SAM2's transforms."""
    return _sam2_transforms(int(resolution)).transforms(image_pixels.float().div(255))


def preprocess(image: Image.Image, resolution: int) -> torch.Tensor:
    """RGB PIL image -> 3 x s x s float tensor, normalised as SAM2 expects."""
    return normalise(pixels(image), resolution)
