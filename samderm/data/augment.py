"""Augmented copies: parameters drawn once and recorded, pixels rendered from the record.

A copy is defined by its ``transform`` dict (stored as JSON in the views table), so
feature extraction on any machine renders exactly the same pixels.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

import torchvision.transforms.v2.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode

from samderm.data.hashing import stable_seed

TRANSFORM_KEYS = ("hflip", "vflip", "rotation", "brightness", "contrast", "saturation", "hue")


def copy_seed(seed: int, image_id: str, copy_index: int) -> int:
    """A stable 64-bit seed for one copy (sha256, never Python's salted hash())."""
    return stable_seed(int(seed), image_id, int(copy_index))


def sample_transform(image_id: str, copy_index: int, seed: int, augment_cfg: Mapping[str, Any]) -> dict:
    """Draw one copy's parameters; the same arguments give the same dict everywhere.

    ``augment_cfg``: ``hflip``/``vflip`` probabilities, ``rotation_degrees`` (uniform in
    +-degrees) and ``color_jitter`` {brightness, contrast, saturation, hue} as in
    torchvision's ColorJitter (factor uniform in [max(0, 1-x), 1+x]; hue in [-x, x]).
    """
    # random.Random(int).random() is guaranteed stable across Python versions
    rng = random.Random(copy_seed(seed, image_id, copy_index))
    jitter = augment_cfg.get("color_jitter") or {}
    # draw every value in a fixed order, used or not, so one setting never shifts another
    u = {key: rng.random() for key in TRANSFORM_KEYS}
    transform: dict[str, Any] = {
        "hflip": u["hflip"] < float(augment_cfg.get("hflip", 0.0)),
        "vflip": u["vflip"] < float(augment_cfg.get("vflip", 0.0)),
        "rotation": round((2 * u["rotation"] - 1) * float(augment_cfg.get("rotation_degrees", 0.0)), 4),
    }
    for name in ("brightness", "contrast", "saturation"):
        spread = float(jitter.get(name, 0.0))
        low = max(0.0, 1.0 - spread)
        transform[name] = round(low + u[name] * (1.0 + spread - low), 4)
    transform["hue"] = round((2 * u["hue"] - 1) * float(jitter.get("hue", 0.0)), 4)
    return transform


def render_view(
    image: Image.Image, transform: Mapping[str, Any], mask: Image.Image | None = None
) -> tuple[Image.Image, Image.Image | None]:
    """Apply exactly the recorded parameters: flips, rotation (also to the mask), then
    brightness, contrast, saturation, hue (image only). An empty dict returns the inputs."""
    unknown = set(transform) - set(TRANSFORM_KEYS)
    if unknown:
        raise ValueError(f"unknown transform key(s) {sorted(unknown)}; known: {list(TRANSFORM_KEYS)}")
    if not transform:
        return image, mask
    # PIL kernels throughout: integer pixel arithmetic gives the same bytes on every machine
    if transform.get("hflip"):
        image, mask = F.horizontal_flip(image), _maybe(F.horizontal_flip, mask)
    if transform.get("vflip"):
        image, mask = F.vertical_flip(image), _maybe(F.vertical_flip, mask)
    angle = float(transform.get("rotation", 0.0))
    if angle:
        image = F.rotate(image, angle, interpolation=InterpolationMode.BILINEAR, fill=0)
        mask = _maybe(lambda m: F.rotate(m, angle, interpolation=InterpolationMode.NEAREST, fill=0), mask)
    if "brightness" in transform:
        image = F.adjust_brightness(image, float(transform["brightness"]))
    if "contrast" in transform:
        image = F.adjust_contrast(image, float(transform["contrast"]))
    if "saturation" in transform:
        image = F.adjust_saturation(image, float(transform["saturation"]))
    if transform.get("hue"):
        image = F.adjust_hue(image, float(transform["hue"]))
    return image, mask


def _maybe(fn, mask):
    return None if mask is None else fn(mask)
