"""Meta's Segment Anything (``segment-anything``: ViT-B/L/H; MedSAM's ViT-B loads the same way):
the official graph and preprocessing, and the pooled image embedding.

Feature: the image encoder's output (after its neck: B x 256 x 64 x 64, the embedding that
``SamPredictor.set_image`` computes), pooled over the cells that cover the image; the cells
that only hold SAM's bottom/right padding are left out."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from segment_anything import sam_model_registry
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide

from samderm.features.checkpoint import checked_checkpoint, load_failure
from samderm.features.encoder import RANDOM_WEIGHTS_SEED, pool
from samderm.features.spec import SAM_RESOLUTION

log = logging.getLogger(__name__)
# Sam.pixel_mean / pixel_std defaults (0-255 scale); none is an integer, so a normalised
# pixel is never exactly 0 and the zero padding is recognisable
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)
PATCH = 16
EMBED_DIM = 256


def build_sam_model(model_type: str, checkpoint: str | Path | None, sha256: str | None = None,
                    name: str = "sam") -> tuple[Sam, str | None]:
    """The whole SAM model of ``model_type`` and the checkpoint's sha256 (None = random weights).
    The checkpoint is the official format (a plain state dict), loaded weights_only and strictly."""
    if model_type not in sam_model_registry or model_type == "default":
        raise ValueError(f"encoders.{name}.model_type {model_type!r}: choose vit_b, vit_l or vit_h")
    if checkpoint is None:
        log.warning("RANDOM WEIGHTS: encoders.%s.checkpoint is null, so SAM %s is randomly initialised "
                    "(seed %d); these features carry no pretrained knowledge", name, model_type, RANDOM_WEIGHTS_SEED)
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        return sam_model_registry[model_type](checkpoint=None).eval(), None
    checkpoint, digest = checked_checkpoint(checkpoint, sha256, name)
    model = sam_model_registry[model_type](checkpoint=None)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except Exception as err:  # unpickling and strict-load errors have many types
        raise load_failure(checkpoint, f"SAM {model_type}", err) from err
    log.info("loaded SAM %s from %s (sha256 %s)", model_type, checkpoint, digest)
    return model.eval(), digest


class SamPreprocess:
    """PIL RGB -> 3 x 1024 x 1024 float, as SamPredictor.set_image: ResizeLongestSide(1024) on the
    uint8 image, then Sam.preprocess: normalise by pixel mean/std and zero-pad bottom and right."""

    def __init__(self, size: int = SAM_RESOLUTION):
        self.size = size

    def __call__(self, image: Image.Image) -> torch.Tensor:
        resized = ResizeLongestSide(self.size).apply_image(np.asarray(image.convert("RGB")))
        x = torch.as_tensor(resized).permute(2, 0, 1).float()
        x = (x - torch.tensor(PIXEL_MEAN).view(3, 1, 1)) / torch.tensor(PIXEL_STD).view(3, 1, 1)
        return F.pad(x, (0, self.size - x.shape[2], 0, self.size - x.shape[1]))


class SamPooledEncoder(torch.nn.Module):
    """SAM's image encoder followed by pooling over the cells that cover the image: B x 3 x 1024² -> B x D."""

    def __init__(self, model: Sam, pooling: str):
        super().__init__()
        self.image_encoder = model.image_encoder
        self.pooling = pooling

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # a 16-px cell holds image pixels iff any value is nonzero (normalised pixels never are 0)
        valid = F.max_pool2d((images != 0).any(1, keepdim=True).float(), PATCH)
        return pool(self.image_encoder(images), self.pooling, valid)
