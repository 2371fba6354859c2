"""Pixels to encoder input exactly as SAM2's own image predictor prepares them."""

from __future__ import annotations

import warnings
from functools import lru_cache

import torch
from PIL import Image
from sam2.utils.transforms import SAM2Transforms


@lru_cache(maxsize=4)
def _sam2_transforms(resolution: int) -> SAM2Transforms:
    # the very object SAM2ImagePredictor uses: ToTensor, resize to s x s, ImageNet mean/std
    with warnings.catch_warnings():  # sam2's own torch.jit.script call; once per worker is noise
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        return SAM2Transforms(resolution=resolution, mask_threshold=0.0)


def preprocess(image: Image.Image, resolution: int) -> torch.Tensor:
    """RGB PIL image -> 3 x s x s float tensor, normalised as SAM2 expects."""
    return _sam2_transforms(int(resolution))(image)
