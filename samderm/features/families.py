"""One frozen encoder of any family behind one interface: its model, its official
preprocessing, its pooled feature's dimension and what the store records about it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import torch
from PIL import Image

from samderm.features.spec import resolve_encoder


@dataclass
class FrozenEncoder:
    family: str
    module: torch.nn.Module  # B x 3 x s x s -> B x dim
    dim: int
    preprocess: Callable[[Image.Image], torch.Tensor]  # runs in DataLoader workers (picklable)
    checkpoint_sha256: str | None
    description: dict = field(default_factory=dict)  # family, graph, feature layer: for settings.json
    # sam2 only: uint8 3 x H x W on the device -> input, so the GPU resizes instead of the workers
    device_preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None


def build_encoder(name: str, cfg: dict, resolution: int, pooling: str, device: str = "cpu") -> FrozenEncoder:
    """The encoder ``encoders.<name>`` at ``resolution`` px with ``pooling``, weights loaded and frozen."""
    cfg = resolve_encoder(name, cfg)
    builders = {"sam2": _sam2, "sam": _sam, "timm": _timm, "open_clip": _open_clip, "transformers": _transformers}
    encoder = builders[cfg["family"]](name, cfg, int(resolution), pooling)
    encoder.module = encoder.module.to(device).eval().requires_grad_(False)
    return encoder


def _sam2(name, cfg, resolution, pooling) -> FrozenEncoder:
    from samderm.features.encoder import SAM2_CONFIGS, PooledEncoder, build_sam2_model, feature_dim, layer_channels
    from samderm.features.preprocess import normalise, preprocess
    from samderm.features.spec import NECK, sam2_layer

    graph = cfg.get("config") or cfg["size"]
    model, digest = build_sam2_model(graph, resolution, cfg["checkpoint"], cfg["sha256"], name=name)
    layer = sam2_layer(cfg)
    channels = layer_channels(model, layer)
    feature = ("image_encoder vision_features (B x 256 x s/16 x s/16)" if layer == NECK else
               f"image_encoder trunk stage {layer} (B x {channels} x s/{2 ** (layer + 1)} x s/{2 ** (layer + 1)})")
    return FrozenEncoder(
        "sam2", PooledEncoder(model, pooling, layer), feature_dim(pooling, channels),
        functools.partial(preprocess, resolution=resolution), digest,
        {"family": "sam2", "sam2_config": SAM2_CONFIGS.get(graph, graph), "layer": layer, "feature": feature},
        functools.partial(normalise, resolution=resolution),
    )


def _sam(name, cfg, resolution, pooling) -> FrozenEncoder:
    from samderm.features.encoder import feature_dim
    from samderm.features.sam_encoder import EMBED_DIM, SamPooledEncoder, SamPreprocess, build_sam_model

    model, digest = build_sam_model(cfg["model_type"], cfg["checkpoint"], cfg["sha256"], name)
    return FrozenEncoder(
        "sam", SamPooledEncoder(model, pooling), feature_dim(pooling, EMBED_DIM), SamPreprocess(resolution), digest,
        {"family": "sam", "model_type": cfg["model_type"],
         "feature": "image_encoder output (B x 256 x 64 x 64), padding cells excluded"},
    )


def _timm(name, cfg, resolution, pooling) -> FrozenEncoder:
    from samderm.features.encoder import feature_dim
    from samderm.features.timm_encoder import TimmPooledEncoder, build_timm_model, timm_transform

    model, digest = build_timm_model(cfg["model"], resolution, bool(cfg.get("pretrained")), cfg["checkpoint"],
                                     cfg["sha256"], name)
    return FrozenEncoder(
        "timm", TimmPooledEncoder(model, pooling), feature_dim(pooling, model.num_features),
        timm_transform(model, resolution), digest,
        {"family": "timm", "timm_model": cfg["model"], "pretrained": bool(cfg.get("pretrained")),
         "feature": "forward_features, patch positions (prefix tokens dropped)"},
    )


def _open_clip(name, cfg, resolution, pooling) -> FrozenEncoder:
    from samderm.features.open_clip_encoder import build_open_clip

    return FrozenEncoder("open_clip", *build_open_clip(name, cfg, resolution, pooling))


def _transformers(name, cfg, resolution, pooling) -> FrozenEncoder:
    from samderm.features.transformers_encoder import build_transformers

    return FrozenEncoder("transformers", *build_transformers(name, cfg, resolution, pooling))
