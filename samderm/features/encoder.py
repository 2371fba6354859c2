"""The SAM2.1 image encoder, built by the official ``build_sam2``, and pooling of its
``vision_features`` (B x 256 x s/16 x s/16: the neck's top level, the embedding SAM2's
image predictor uses, less its no-memory term) to one vector per image."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from sam2.build_sam import build_sam2
from sam2.modeling.sam2_base import SAM2Base

from samderm.features.checkpoint import CheckpointError, checked_checkpoint, load_failure
from samderm.features.spec import NECK, TRUNK_STAGES

log = logging.getLogger(__name__)

SAM2_CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
POOLINGS = ("mean", "max", "meanmax")
VISION_DIM = 256
# random weights (checkpoint: null) must be the same on every run so stores stay comparable
RANDOM_WEIGHTS_SEED = 0


def feature_dim(pooling: str, channels: int = VISION_DIM) -> int:
    return 2 * channels if pooling == "meanmax" else channels


def pool(vision_features: torch.Tensor, pooling: str, valid: torch.Tensor | None = None) -> torch.Tensor:
    """B x C x H x W -> B x C (mean, max) or B x 2C (meanmax: mean then max); ``valid``
    (B x 1 x H x W, nonzero = a cell that covers the image) leaves padding cells out."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
    flat = vision_features.flatten(2)
    if valid is None:
        mean, peak = flat.mean(-1), flat.amax(-1)
    else:
        weight = valid.flatten(2).to(flat.dtype)
        mean = (flat * weight).sum(-1) / weight.sum(-1).clamp_min(1)
        peak = flat.masked_fill(weight == 0, float("-inf")).amax(-1)
    if pooling == "meanmax":
        return torch.cat([mean, peak], dim=1)
    return mean if pooling == "mean" else peak


def build_sam2_model(
    size: str,
    resolution: int,
    checkpoint: str | Path | None,
    sha256: str | None = None,
    device: str = "cpu",
    name: str | None = None,
) -> tuple[SAM2Base, str | None]:
    """The whole SAM2.1 model at ``resolution`` px, and the checkpoint's sha256 (None = random).

    Loading goes through ``build_sam2`` itself: ``torch.load(weights_only=True)`` and a
    strict state-dict match, here with errors that name the file.
    """
    if size not in SAM2_CONFIGS and not str(size).endswith(".yaml"):
        raise ValueError(f"unknown encoder size {size!r}; choose one of {list(SAM2_CONFIGS)} or a sam2 config name")
    graph = SAM2_CONFIGS.get(size, size)
    name = name or size  # the entry's name in encoders (the old form named entries by size)
    overrides = [f"++model.image_size={int(resolution)}"]
    if checkpoint is None:
        log.warning(
            "RANDOM WEIGHTS: encoders.%s.checkpoint is null, so SAM2.1 %s is randomly initialised "
            "(seed %d); these features carry no pretrained knowledge and no clinical meaning",
            name, size, RANDOM_WEIGHTS_SEED,
        )
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        return build_sam2(graph, None, device=device, hydra_overrides_extra=overrides), None
    checkpoint, digest = checked_checkpoint(checkpoint, sha256, name)
    try:
        model = build_sam2(graph, str(checkpoint), device=device, hydra_overrides_extra=overrides)
    except KeyError as err:
        raise CheckpointError(f"{checkpoint}: not an official SAM2 checkpoint (no {err} entry)") from err
    except Exception as err:  # torch's unpickling and strict-load errors have many types
        raise load_failure(checkpoint, f"SAM2.1 {size}", err) from err
    log.info("loaded SAM2.1 %s from %s (sha256 %s) at %d px", size, checkpoint, digest, resolution)
    return model, digest


def layer_channels(model: SAM2Base, layer) -> int:
    """Channels of the feature ``layer`` reads: 256 for the neck, the Hiera stage's width otherwise."""
    if layer == NECK:
        return VISION_DIM
    return int(model.image_encoder.trunk.channel_list[-int(layer)])  # channel_list runs deepest first


class PooledEncoder(torch.nn.Module):
    """SAM2's image encoder followed by pooling: B x 3 x s x s -> B x D. ``layer`` is ``neck``
    (vision_features) or a Hiera trunk stage 1-4, read before the neck (SAMantics: the neck's
    output loses semantics that the trunk's stages keep)."""

    def __init__(self, model: SAM2Base, pooling: str, layer=NECK):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
        if layer != NECK and layer not in TRUNK_STAGES:
            raise ValueError(f"unknown SAM2 layer {layer!r}; choose {NECK!r} or a trunk stage {TRUNK_STAGES}")
        self.image_encoder = model.image_encoder
        self.pooling = pooling
        self.layer = layer

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.layer != NECK:  # the trunk alone: the neck's convolutions are not needed
            return pool(self.image_encoder.trunk(images)[self.layer - 1], self.pooling)
        # vision_features is what SAM2Base.forward_image returns unchanged as the top level
        return pool(self.image_encoder(images)["vision_features"], self.pooling)
