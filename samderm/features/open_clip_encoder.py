"""Any open_clip model (CLIP, SigLIP, DermLIP, BiomedCLIP ...) by name or ``hf-hub:org/name`` id,
built and loaded by open_clip itself (its strict, weights_only loader), at the study's resolution,
with open_clip's own eval transform; only the image tower is kept.

Feature (``encoders.<name>.feature``), one vector per image:
- ``embedding`` (default): the pooled image embedding, ``encode_image`` without normalisation;
- ``pre_projection``: the image tower's pooled output before its projection into the joint space
  (VisionTransformer: the pooled token before ``proj``; timm trunks: the trunk's pooled features
  before the projection, i.e. ``forward_head(pre_logits=True)``, then no ``head``).
The vector counts as one position for ``pool``: mean = max = the vector, meanmax doubles it.

Weights: ``checkpoint`` (a full open_clip state dict: .pt/.bin/.pth/.safetensors), else for an
``hf-hub:`` id the weights file open_clip would use from the local Hugging Face cache (never the
network), else random weights seeded with RANDOM_WEIGHTS_SEED. open_clip's ``pretrained=<tag>``
downloads are never used."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from unittest import mock

import open_clip
import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub import try_to_load_from_cache
from open_clip.constants import HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from open_clip.timm_model import TimmModel
from open_clip.transformer import VisionTransformer

from samderm.features.checkpoint import CheckpointError, checked_checkpoint, hub_cache, load_failure
from samderm.features.encoder import POOLINGS, RANDOM_WEIGHTS_SEED, feature_dim, pool
from samderm.features.spec import OPEN_CLIP_FEATURES as FEATURES

log = logging.getLogger(__name__)

HF_HUB_PREFIX = "hf-hub:"
# the weights open_clip's hf-hub loader takes, in its order (download_pretrained_from_hf)
HUB_WEIGHTS = (HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME)


def build_open_clip(name: str, cfg: dict, resolution: int, pooling: str):
    """(module, dim, preprocess, checkpoint sha256 or None, description) of ``encoders.<name>``."""
    model_name, feature = cfg["model"], cfg.get("feature") or "embedding"
    if feature not in FEATURES:
        raise ValueError(f"encoders.{name}.feature: {feature!r} is not one of {FEATURES}")
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
    description = {"family": "open_clip", "open_clip_model": model_name, "open_clip_version": open_clip.__version__}
    config, checkpoint = _locate(name, model_name, cfg["checkpoint"])
    if config is not None:
        description["hf_revision"] = config.parent.name  # the snapshot folder is the commit hash

    if checkpoint is None:
        log.warning("RANDOM WEIGHTS: encoders.%s has no checkpoint, so open_clip %s is randomly initialised "
                    "(seed %d); these features carry no pretrained knowledge", name, model_name, RANDOM_WEIGHTS_SEED)
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        model, preprocess = _create(model_name, None, resolution)
        digest = None
    else:
        checkpoint, digest = checked_checkpoint(checkpoint, cfg["sha256"], name)
        try:
            with _source(model_name, config, checkpoint) as (arch, pretrained):
                model, preprocess = _create(arch, pretrained, resolution)
        except Exception as err:  # unpickling, safetensors and strict-load errors have many types
            raise load_failure(checkpoint, f"open_clip {model_name}", err) from err
        log.info("loaded open_clip %s from %s (sha256 %s) at %d px", model_name, checkpoint, digest, resolution)

    tower, description["feature"] = _tower(model.visual, feature, name)
    del model  # the text tower, logit scale ... are not needed for image features
    module = OpenClipPooledEncoder(tower, pooling).eval()
    with torch.inference_mode():  # towers keep their output width in different places: measure it
        width = module.vector(torch.zeros(1, 3, resolution, resolution)).shape[1]
    return module, feature_dim(pooling, width), preprocess, digest, description


def _locate(name: str, model_name: str, checkpoint: str | None) -> tuple[Path | None, str | Path | None]:
    """The hub config (None for a built-in name) and the weights: ``checkpoint``, else the cached hub
    weights open_clip would take, else None (random). Checks every file the build reads is there."""
    config = None
    if model_name.startswith(HF_HUB_PREFIX):
        repo = model_name[len(HF_HUB_PREFIX):]
        config = _from_hub_cache(name, repo, (HF_CONFIG_NAME,), f"hf download {repo}")
        checkpoint = checkpoint or _from_hub_cache(name, repo, HUB_WEIGHTS, f"hf download {repo}")
        model_cfg = json.loads(config.read_text(encoding="utf-8")).get("model_cfg", {})
    else:
        model_cfg = open_clip.get_model_config(model_name)
        if model_cfg is None:
            raise ValueError(f"encoders.{name}.model: open_clip has no model {model_name!r} "
                             "(see open_clip.list_models(), or give hf-hub:org/name)")
    text_model = model_cfg.get("text_cfg", {}).get("hf_model_name")
    if text_model and not os.path.isdir(text_model):  # a Hugging Face text tower (BiomedCLIP's) needs its config.json
        _from_hub_cache(name, text_model, ("config.json",), f"hf download {text_model} config.json")
    return config, checkpoint


def _create(arch: str, pretrained: str | None, resolution: int):
    """open_clip's model (loading ``pretrained`` strictly, weights_only) and its eval transform at
    ``resolution`` px; offline, so towers with a Hugging Face text model only read the cache."""
    with mock.patch.multiple(hf_constants, HF_HUB_OFFLINE=True, HF_HUB_CACHE=str(hub_cache())):
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=pretrained, force_image_size=resolution, weights_only=True,
            pretrained_image=False, pretrained_text=False)  # no tower downloads when no checkpoint is loaded
    return model, preprocess


@contextlib.contextmanager
def _source(model_name: str, config: Path | None, checkpoint: Path):
    """What open_clip loads this checkpoint from: a built-in name with the file as ``pretrained``
    (absolute, so never read as a tag), or a local-dir of exactly this hub config and this file."""
    if config is None:  # absolute, not resolved: open_clip tells safetensors by the name's suffix
        yield model_name, str(checkpoint.absolute())
        return
    # open_clip loads a hub config's weights itself (create-time size, then timm's resize): hand it this file
    with tempfile.TemporaryDirectory(prefix="open_clip_") as folder:
        os.symlink(config.resolve(), Path(folder) / HF_CONFIG_NAME)
        weights = HF_SAFE_WEIGHTS_NAME if checkpoint.suffix == ".safetensors" else HF_WEIGHTS_NAME
        os.symlink(checkpoint.absolute(), Path(folder) / weights)
        yield f"local-dir:{folder}", None


def _from_hub_cache(name: str, repo: str, filenames: tuple[str, ...], download: str) -> Path:
    """The first of ``filenames`` in the cached snapshot of the repo's main revision (files only, no network)."""
    cache = hub_cache()
    for filename in filenames:
        found = try_to_load_from_cache(repo, filename, cache_dir=cache)
        if isinstance(found, str):
            return Path(found)
    raise CheckpointError(
        f"encoders.{name}: no {' or '.join(filenames)} of hf-hub:{repo} in the Hugging Face cache {cache} "
        f"(HF_HUB_CACHE, else HF_HOME/hub); nothing is downloaded here: fill the cache on a machine with "
        f"internet with `{download} --cache-dir {cache}`")


def _tower(visual: torch.nn.Module, feature: str, name: str) -> tuple[torch.nn.Module, str]:
    """The image tower computing ``feature``, and which layer that is, in words."""
    kind = type(visual).__name__
    if feature == "embedding":
        return visual, f"encode_image: the {kind} image tower's pooled embedding, not normalised"
    if isinstance(visual, VisionTransformer):
        visual.proj = None  # its forward skips a None projection: the pooled token is the output
        return visual, "VisionTransformer pooled token (after ln_post) before proj"
    if isinstance(visual, TimmModel) and not hasattr(visual.head, "pool"):  # attention pools project as they pool
        return TimmPreLogits(visual.trunk), f"timm trunk {type(visual.trunk).__name__} pooled features " \
                                            "(forward_head pre_logits) before the projection head"
    raise ValueError(f"encoders.{name}.feature: pre_projection is defined for VisionTransformer and timm trunk "
                     f"towers (without attention pooling), not for this {kind} tower; use feature: embedding")


class TimmPreLogits(torch.nn.Module):
    """A timm trunk's pooled features before its classifier (open_clip's projection when it has no head)."""

    def __init__(self, trunk: torch.nn.Module):
        super().__init__()
        self.trunk = trunk

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk.forward_head(self.trunk.forward_features(images), pre_logits=True)


class OpenClipPooledEncoder(torch.nn.Module):
    """The tower's vector as a single position, pooled: B x 3 x s x s -> B x D (2D for meanmax)."""

    def __init__(self, tower: torch.nn.Module, pooling: str):
        super().__init__()
        self.tower = tower
        self.pooling = pooling

    def vector(self, images: torch.Tensor) -> torch.Tensor:
        out = self.tower(images)
        return out[0] if isinstance(out, tuple) else out  # towers with output_tokens return (pooled, tokens)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return pool(self.vector(images)[..., None, None], self.pooling)
