"""Any ``timm`` model by name (DINOv2, CLIP image towers, ConvNeXt ...): its own eval transform
and its own checkpoint loader, weights from a local file or, only when asked, timm's download.

Feature: ``forward_features`` (the last feature map, after the model's final norm), patch
tokens only (class and register tokens dropped), pooled mean / max / meanmax over positions:
``num_features`` (x2 for meanmax) values."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import timm
import torch
from timm.data import create_transform, resolve_data_config
from timm.models import load_checkpoint

from samderm.features.checkpoint import checked_checkpoint, load_failure
from samderm.features.encoder import RANDOM_WEIGHTS_SEED, pool

log = logging.getLogger(__name__)


def _create(model_name: str, resolution: int, pretrained: bool) -> torch.nn.Module:
    try:  # ViT-like models take the input size (and resample pretrained position embeddings)
        return timm.create_model(model_name, pretrained=pretrained, img_size=resolution)
    except TypeError:  # convolutional models take any size and have no img_size argument
        return timm.create_model(model_name, pretrained=pretrained)


def build_timm_model(model_name: str, resolution: int, pretrained: bool = False, checkpoint: str | Path | None = None,
                     sha256: str | None = None, name: str = "timm") -> tuple[torch.nn.Module, str | None]:
    """The model at ``resolution`` px and the checkpoint's sha256 (None: random weights or timm's download).
    A checkpoint (safetensors or PyTorch) goes through timm's own loader, weights_only and strict."""
    if not timm.is_model(model_name.split(".")[0]):  # "arch.pretrained_tag" names one weight set
        raise ValueError(f"encoders.{name}.model: timm has no model {model_name!r}")
    if checkpoint is None:
        if pretrained:
            log.info("encoders.%s: timm downloads the pretrained weights of %s (pretrained: true)", name, model_name)
        else:
            log.warning("RANDOM WEIGHTS: encoders.%s has no checkpoint and pretrained: false, so %s is randomly "
                        "initialised (seed %d); these features carry no pretrained knowledge",
                        name, model_name, RANDOM_WEIGHTS_SEED)
            torch.manual_seed(RANDOM_WEIGHTS_SEED)
        return _create(model_name, resolution, pretrained).eval(), None
    checkpoint, digest = checked_checkpoint(checkpoint, sha256, name)
    model = _create(model_name, resolution, pretrained=False)
    # the model's own converter: original-format keys, position embeddings resampled to this size
    filter_fn = getattr(sys.modules[type(model).__module__], "checkpoint_filter_fn", None)
    try:
        load_checkpoint(model, str(checkpoint), strict=True, filter_fn=filter_fn, weights_only=True)
    except Exception as err:  # unpickling, safetensors and strict-load errors have many types
        raise load_failure(checkpoint, f"timm {model_name}", err) from err
    log.info("loaded timm %s from %s (sha256 %s) at %d px", model_name, checkpoint, digest, resolution)
    return model.eval(), digest


def timm_transform(model: torch.nn.Module, resolution: int):
    """timm's eval transform for this model at ``resolution`` px (its resize, crop, mean and std)."""
    return create_transform(**resolve_data_config({"input_size": (3, resolution, resolution)}, model=model))


class TimmPooledEncoder(torch.nn.Module):
    """forward_features, patch positions only, pooled: B x 3 x s x s -> B x D."""

    def __init__(self, model: torch.nn.Module, pooling: str):
        super().__init__()
        self.model = model
        self.pooling = pooling
        self.prefix = int(getattr(model, "num_prefix_tokens", 0))
        self.channels_last = getattr(model, "output_fmt", "NCHW") == "NHWC"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.model.forward_features(images)
        if features.ndim == 3:  # tokens: B x N x C
            features = features[:, self.prefix:].transpose(1, 2).unsqueeze(-1)
        elif self.channels_last:
            features = features.permute(0, 3, 1, 2)
        return pool(features, self.pooling)
