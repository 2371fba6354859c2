"""Hugging Face ``transformers`` CLIP / SigLIP image towers (MONET's CLIPModel, MedSigLIP's SiglipModel,
or a vision-only model): a local snapshot, strictly loaded, with the snapshot's own image processor.

Feature (``feature``), one vector per image:
- ``pooler`` (default): the vision tower's ``pooler_output``: CLIP's class token after ``post_layernorm``,
  SigLIP's attention-pooling head;
- ``embedding``: what the full model's ``get_image_features`` returns: CLIP's ``visual_projection`` of that
  pooler output; for SigLIP the pooler output itself (SigLIP has no image projection).
The vector is pooled as one position (mean = max = the vector; meanmax doubles it).

Weights: ``model`` is a hub id found in the local hub cache (never the network) or a snapshot directory;
``checkpoint`` (a snapshot directory) overrides the lookup. ``sha256`` maps every weight file of the
snapshot (``*.safetensors``, ``*.bin``) to its digest; the store's checkpoint digest is the sha256 of the
lines ``"<file name> <digest>\\n"`` sorted by file name (``snapshot_digest``)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path

import torch
import transformers
from huggingface_hub import snapshot_download
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, AutoModel
from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES
from transformers.utils import is_torchvision_available

from samderm.features.checkpoint import CheckpointError, hub_cache, load_failure, verify_sha256
from samderm.features.encoder import POOLINGS, RANDOM_WEIGHTS_SEED, feature_dim, pool
from samderm.features.spec import TRANSFORMERS_FEATURES

log = logging.getLogger(__name__)

# the names spec checks in the config (TRANSFORMERS_FEATURES), each with what settings.json says of it
FEATURES = dict(zip(TRANSFORMERS_FEATURES, (
    "vision tower pooler_output (CLIP: class token after post_layernorm; SigLIP: attention-pooling head)",
    "get_image_features, the projected image embedding (CLIP: visual_projection of the pooler_output; "
    "SigLIP: the pooler_output itself)",
)))
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def build_transformers(name: str, cfg: dict, resolution: int, pooling: str):
    """(module, dim, preprocess, checkpoint_sha256, description) of ``encoders.<name>`` at ``resolution`` px."""
    feature = cfg.get("feature") or "pooler"
    if feature not in FEATURES:
        raise ValueError(f"encoders.{name}.feature: {feature!r} is not one of {list(FEATURES)}")
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
    if cfg.get("url"):
        raise ValueError(f"encoders.{name}.url must be null for family transformers: snapshots are fetched with "
                         f"`hf download <id>` into the Hugging Face hub cache and named by encoders.{name}.model")
    if cfg.get("model") or cfg.get("checkpoint"):
        if cfg.get("config"):
            raise ValueError(f"encoders.{name}.config is for random weights only (no model and no checkpoint)")
        snapshot = _snapshot(name, cfg)
        weights = _checked_weights(snapshot, cfg.get("sha256"), name)
        model = _load(snapshot, weights)
        processor = _snapshot_processor(snapshot)
        digest = snapshot_digest(weights)
        source = {"transformers_model": cfg.get("model") or str(snapshot), "snapshot": str(snapshot)}
    elif cfg.get("config"):
        model, processor = _random(name, cfg["config"])
        weights, digest = {}, None
        source = {"transformers_model": None, "transformers_config": cfg["config"]}  # extract records random_weights
    else:
        raise ValueError(f"encoders.{name}: name a Hugging Face model id or snapshot directory with "
                         f"encoders.{name}.model, or a model type (e.g. clip_vision_model) with "
                         f"encoders.{name}.config for random weights")

    tower = getattr(model, "vision_model", model)  # full models hold the tower; vision-only models are it
    if getattr(tower.config, "vision_use_head", True) is False:
        raise ValueError(f"encoders.{name}: {type(tower).__name__} has no pooling head (vision_use_head: false), "
                         "so it has no pooler_output")
    projection = None
    if feature == "embedding":
        if not (hasattr(model, "get_image_features") or hasattr(model, "visual_projection")):
            raise ValueError(f"encoders.{name}.feature: embedding needs a full model with get_image_features "
                             f"(e.g. CLIPModel, SiglipModel); {type(model).__name__} has none, use feature: pooler")
        projection = getattr(model, "visual_projection", None)  # SigLIP's get_image_features is the pooler_output
    width = projection.out_features if projection is not None else tower.config.hidden_size
    interpolate = resolution != tower.config.image_size
    module = TransformersImageEncoder(tower, projection, pooling, interpolate).eval()

    processor = _at_resolution(processor, resolution)
    preprocess = Preprocess(processor)
    shape = tuple(preprocess(Image.new("RGB", (2 * resolution, resolution))).shape)
    if shape != (3, resolution, resolution):  # a processor that pads or keeps the aspect ratio
        raise ValueError(f"encoders.{name}: {type(processor).__name__} gives {shape} pixel values, "
                         f"not 3 x {resolution} x {resolution}")
    description = {
        "family": "transformers", **source, "model_class": type(model).__name__,
        "vision_tower": type(tower).__name__, "feature": FEATURES[feature], "weight_files": weights,
        "image_processor": type(processor).__name__, "image_size": tower.config.image_size,
        "interpolate_pos_encoding": interpolate, "transformers_version": transformers.__version__,
    }
    log.info("transformers encoder %s: %s, %s at %d px (interpolate_pos_encoding: %s)",
             name, type(model).__name__, feature, resolution, interpolate)
    return module, feature_dim(pooling, width), preprocess, digest, description


def snapshot_digest(weights: Mapping[str, str]) -> str:
    """One sha256 for a snapshot: the sha256 of ``"<file name> <digest>\\n"`` lines sorted by file name."""
    lines = "".join(f"{file} {digest}\n" for file, digest in sorted(weights.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _snapshot(name: str, cfg: dict) -> Path:
    """The snapshot directory: ``checkpoint``, ``model`` as a directory, or ``model`` in the local hub cache."""
    if cfg.get("checkpoint"):
        path = Path(cfg["checkpoint"]).expanduser()
    elif Path(cfg["model"]).expanduser().is_dir():
        path = Path(cfg["model"]).expanduser()
    else:
        cache = hub_cache()
        try:
            path = Path(snapshot_download(cfg["model"], cache_dir=cache, local_files_only=True))
        except (OSError, ValueError) as err:  # not cached, incomplete, or not a valid id
            raise CheckpointError(f"encoders.{name}.model: {cfg['model']} is not in the Hugging Face hub cache "
                                  f"{cache} (fetch it with `hf download {cfg['model']}`): {err}") from err
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} is not a transformers snapshot directory (it has no config.json)")
    return path


def _checked_weights(snapshot: Path, sha256, name: str) -> dict[str, str]:
    """{weight file name: sha256} of the snapshot, each equal to ``sha256``'s entry when that is given."""
    files = sorted(p for p in snapshot.iterdir() if p.name.endswith(WEIGHT_SUFFIXES) and p.is_file())
    if not files:
        raise CheckpointError(f"{snapshot} holds no weight file (*.safetensors, *.bin)")
    if sha256 is not None:
        if not isinstance(sha256, Mapping):
            raise ValueError(f"encoders.{name}.sha256: give {{weight file name: sha256}} for the snapshot's weight "
                             f"files ({', '.join(p.name for p in files)}), or null")
        unlisted = [p for p in files if p.name not in sha256]
        if unlisted:
            raise CheckpointError(f"{unlisted[0]}: weight file missing from encoders.{name}.sha256 "
                                  "(every *.safetensors and *.bin file of the snapshot needs its digest)")
        absent = sorted(set(sha256) - {p.name for p in files})
        if absent:
            raise CheckpointError(f"{snapshot / absent[0]}: listed in encoders.{name}.sha256 but not in the snapshot")
    digests = {p.name: verify_sha256(p, None if sha256 is None else sha256[p.name]) for p in files}
    if sha256 is None:
        log.warning("encoders.%s.sha256 is null: %s loaded unverified (sha256 %s)", name, snapshot, digests)
    return digests


def _load(snapshot: Path, weights: Mapping[str, str]) -> torch.nn.Module:
    """The snapshot's model class, loaded from local files only; any missing, unexpected or mismatched key refuses."""
    files = [snapshot / file for file in weights]
    loaded = [f for f in files if f.suffix == ".safetensors"] or files  # transformers prefers safetensors
    where = loaded[0] if len(loaded) == 1 else snapshot
    target = "transformers AutoModel"
    try:
        architectures = AutoConfig.from_pretrained(snapshot, local_files_only=True).architectures or []
        model_class = getattr(transformers, architectures[0], None) if architectures else None
        model_class = model_class or AutoModel  # the class the snapshot was saved from, else its model type's
        target = f"transformers {model_class.__name__}"
        # mismatched shapes come back in the loading info (refused below, by key) instead of a keyless error
        model, info = model_class.from_pretrained(snapshot, local_files_only=True, output_loading_info=True,
                                                  ignore_mismatched_sizes=True)
    except Exception as err:  # config, safetensors, pickle and conversion errors have many types
        raise load_failure(where, target, err) from err
    problems = [f"missing keys {sorted(info['missing_keys'])}"] if info["missing_keys"] else []
    problems += [f"unexpected keys {sorted(info['unexpected_keys'])}"] if info["unexpected_keys"] else []
    problems += [f"size mismatch for {key}: {tuple(ckpt)} in the checkpoint, {tuple(ours)} in the model"
                 for key, ckpt, ours in sorted(info["mismatched_keys"])]
    problems += list(info.get("error_msgs") or [])
    if problems:  # transformers only warns about missing and unexpected keys
        raise load_failure(where, f"transformers {type(model).__name__}", RuntimeError("; ".join(problems)))
    log.info("loaded %s from %s", type(model).__name__, snapshot)
    return model.float()  # transformers 5 loads in the checkpoint's dtype; features are float32 (autocast on GPU)


def _snapshot_processor(snapshot: Path):
    try:
        return AutoImageProcessor.from_pretrained(snapshot, local_files_only=True)
    except Exception as err:  # no preprocessor_config.json, or one transformers cannot read
        raise CheckpointError(f"{snapshot}: no usable image processor (preprocessor_config.json): {err}") from err


def _random(name: str, model_type: str):
    """A model of ``model_type`` with its config's defaults, seeded random weights, and its default processor."""
    try:
        config = AutoConfig.for_model(model_type)
    except ValueError as err:
        raise ValueError(f"encoders.{name}.config: {model_type!r} is not a transformers model type "
                         "(e.g. clip_vision_model, siglip_vision_model)") from err
    # vision-only model types use the image processor of their full model (clip_vision_model -> clip)
    names = IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type) or IMAGE_PROCESSOR_MAPPING_NAMES.get(
        model_type.removesuffix("_vision_model"))
    if not names:
        raise ValueError(f"encoders.{name}.config: transformers has no image processor for {model_type!r}")
    backend = "torchvision" if is_torchvision_available() else "pil"  # AutoImageProcessor's own default
    processor = getattr(transformers, names.get(backend) or names["pil"])()
    log.warning("RANDOM WEIGHTS: encoders.%s has no model and no checkpoint, so a %s is randomly initialised "
                "(seed %d); these features carry no pretrained knowledge", name, model_type, RANDOM_WEIGHTS_SEED)
    torch.manual_seed(RANDOM_WEIGHTS_SEED)
    return AutoModel.from_config(config).float(), processor


def _at_resolution(processor, resolution: int):
    """The same processor resizing (and cropping) to ``resolution`` px."""
    settings = processor.to_dict()
    settings["size"] = {key: resolution for key in settings["size"]}  # shortest_edge (CLIP) or height, width (SigLIP)
    if settings.get("crop_size"):
        settings["crop_size"] = {"height": resolution, "width": resolution}
    return type(processor).from_dict(settings)


class Preprocess:
    """RGB PIL image -> 3 x s x s float tensor: exactly the image processor's pixel_values (picklable)."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]


class TransformersImageEncoder(torch.nn.Module):
    """The vision tower's pooler_output (projected for ``embedding``) as one pooled position: B x 3 x s x s -> B x D."""

    def __init__(self, vision: torch.nn.Module, projection: torch.nn.Module | None, pooling: str, interpolate: bool):
        super().__init__()
        self.vision = vision
        self.projection = projection if projection is not None else torch.nn.Identity()
        self.pooling = pooling
        self.interpolate = interpolate  # position embeddings resampled when the resolution is not the config's

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.vision(pixel_values=images, interpolate_pos_encoding=self.interpolate).pooler_output
        return pool(self.projection(pooled)[:, :, None], self.pooling)
