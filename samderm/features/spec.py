"""Named encoders: each entry of ``encoders:`` is a user-chosen name (the feature-set id) with a
family (sam2 | sam | timm | open_clip | transformers) and that family's keys; checked here without
importing torch."""

from __future__ import annotations

from typing import Any, Mapping

SAM2_SIZES = ("tiny", "small", "base_plus", "large")
SAM_MODEL_TYPES = ("vit_b", "vit_l", "vit_h")
# SAM's ViT has a fixed 64 x 64 positional embedding: it only runs at 1024 px
SAM_RESOLUTION = 1024
# SAM2's Hiera backbone downsamples by 32 and its windowed attention needs whole windows
SAM2_RESOLUTION_STEP = 32
# licence and gated describe the weights' terms: shown beside every result, never part of extraction
TERMS_KEYS = {"licence", "gated"}
COMMON_KEYS = {"family", "checkpoint", "sha256", "url"} | TERMS_KEYS
FAMILY_KEYS = {
    "sam2": COMMON_KEYS | {"size", "config", "layer"},
    "sam": COMMON_KEYS | {"model_type"},
    "timm": COMMON_KEYS | {"model", "pretrained"},
    "open_clip": COMMON_KEYS | {"model", "feature"},
    "transformers": COMMON_KEYS | {"model", "config", "feature"},
}
NECK = "neck"  # SAM2's default feature: vision_features, the neck's top level
TRUNK_STAGES = (1, 2, 3, 4)  # Hiera's stages: strides 4, 8, 16, 32; channels C, 2C, 4C, 8C
SAM2_LAYERS = (NECK, *TRUNK_STAGES)
OPEN_CLIP_FEATURES = ("embedding", "pre_projection")
TRANSFORMERS_FEATURES = ("pooler", "embedding")
NEW_FORM = (
    "encoders:\n"
    "  sam2_tiny: {family: sam2, size: tiny, checkpoint: null}\n"
    "  medsam: {family: sam, model_type: vit_b, checkpoint: checkpoints/medsam_vit_b.pth, sha256: ...}\n"
    "  vit: {family: timm, model: vit_tiny_patch16_224, pretrained: false}"
)


def resolve_encoder(name: str, cfg: Mapping[str, Any]) -> dict:
    """The entry with its family made explicit: an entry without one, named after a SAM2.1 size
    (the old form ``tiny: {checkpoint: ...}``), is that SAM2.1 size."""
    cfg = dict(cfg or {})
    if "family" not in cfg or cfg["family"] is None:
        if name not in SAM2_SIZES:
            raise ValueError(f"encoders.{name}: no family; name the family and its model, e.g.\n{NEW_FORM}")
        cfg["family"] = "sam2"
    if cfg["family"] == "sam2" and not (cfg.get("size") or cfg.get("config")):
        cfg["size"] = name
    cfg.setdefault("checkpoint", None)
    cfg.setdefault("sha256", None)
    cfg.setdefault("url", None)
    return cfg


def sam2_layer(cfg: Mapping[str, Any]):
    """The SAM2 feature an entry reads: ``neck`` (default) or a Hiera trunk stage 1-4."""
    layer = cfg.get("layer") or NECK
    return layer if layer == NECK else int(layer)


def extraction_entry(cfg: Mapping[str, Any]) -> dict:
    """The entry less its terms (licence, gated): what extraction depends on, so adding a licence
    to a finished study's encoder reruns nothing."""
    return {key: value for key, value in dict(cfg or {}).items() if key not in TERMS_KEYS}


def random_weights(cfg: Mapping[str, Any]) -> bool:
    """True when a resolved entry loads no weights: no checkpoint, no timm download, no hub-cache id."""
    if cfg["checkpoint"] is not None or cfg.get("pretrained"):
        return False
    if cfg["family"] == "open_clip":
        return not str(cfg.get("model") or "").startswith("hf-hub:")
    return not (cfg["family"] == "transformers" and cfg.get("model"))


def encoder_terms(name: str, cfg: Mapping[str, Any]) -> dict:
    """``{licence, gated}`` of an entry; random weights carry no one's terms."""
    cfg = resolve_encoder(name, cfg)
    licence = cfg.get("licence") or ("none (random weights)" if random_weights(cfg) else "not stated")
    return {"licence": str(licence), "gated": bool(cfg.get("gated", False))}


def _family_problems(name: str, cfg: Mapping[str, Any]) -> list[str]:
    family, problems = cfg["family"], []
    if family == "sam2" and cfg.get("layer") is not None and cfg["layer"] not in SAM2_LAYERS:
        problems.append(f"encoders.{name}.layer: {cfg['layer']!r} is not 'neck' or a Hiera trunk stage 1-4")
    if family in ("timm", "open_clip") and not cfg.get("model"):
        example = "vit_small_patch14_dinov2.lvd142m" if family == "timm" else "ViT-B-16 or hf-hub:redlessone/DermLIP_ViT-B-16"
        problems.append(f"encoders.{name}.model: name the {family} model, e.g. {example}")
    if family == "open_clip" and cfg.get("feature", "embedding") not in OPEN_CLIP_FEATURES:
        problems.append(f"encoders.{name}.feature: {cfg['feature']!r} is not one of {', '.join(OPEN_CLIP_FEATURES)}")
    if family == "transformers":
        if cfg.get("feature", "pooler") not in TRANSFORMERS_FEATURES:
            problems.append(f"encoders.{name}.feature: {cfg['feature']!r} is not one of {', '.join(TRANSFORMERS_FEATURES)}")
        if not (cfg.get("model") or cfg.get("checkpoint") or cfg.get("config")):
            problems.append(f"encoders.{name}: name a hub id or snapshot folder in model (e.g. suinleelab/monet), "
                            "or a model type in config (e.g. clip_vision_model) for random weights")
        if cfg.get("url"):
            problems.append(f"encoders.{name}.url: transformers snapshots are not downloaded by samderm; "
                            f"fetch it into the hub cache with `hf download {cfg.get('model') or '<id>'}`")
        if cfg.get("sha256") is not None and not isinstance(cfg["sha256"], Mapping):
            problems.append(f"encoders.{name}.sha256: give one digest per weight file, "
                            "{model.safetensors: <64 hex digits>}")
    if cfg.get("gated") is not None and not isinstance(cfg["gated"], bool):
        problems.append(f"encoders.{name}.gated: true or false, not {cfg['gated']!r}")
    return problems


def encoder_problems(config: Mapping[str, Any], runs) -> list[str]:
    """One line per problem of the ``encoders`` section, of the resolutions the matrix asks of
    each encoder (``runs``: the expanded matrix), and of the lesion-crop segmenter."""
    problems: list[str] = []
    resolved: dict[str, dict] = {}
    for name, entry in config["encoders"].items():
        try:
            cfg = resolved[name] = resolve_encoder(name, entry)
        except ValueError as err:
            problems.append(str(err))
            continue
        family = cfg["family"]
        stray = sorted(set(cfg) - FAMILY_KEYS[family])
        if stray:
            problems.append(f"encoders.{name}: key(s) {stray} do not belong to family {family} "
                            f"(its keys: {sorted(FAMILY_KEYS[family])})")
        if cfg.get("url") and not cfg.get("checkpoint"):
            problems.append(f"encoders.{name}.url is set but encoders.{name}.checkpoint is null: "
                            "name the file to download it to (null means random weights)")
        if family == "sam2" and cfg.get("size") and cfg["size"] not in SAM2_SIZES:
            problems.append(f"encoders.{name}.size: '{cfg['size']}' is not a SAM2.1 size ({', '.join(SAM2_SIZES)}); "
                            f"give a graph with encoders.{name}.config instead")
        if family == "sam" and cfg.get("model_type") not in SAM_MODEL_TYPES:
            problems.append(f"encoders.{name}.model_type: '{cfg.get('model_type')}' is not one of {', '.join(SAM_MODEL_TYPES)}")
        problems += _family_problems(name, cfg)
        if family == "timm" and cfg.get("pretrained") and cfg.get("checkpoint"):
            problems.append(f"encoders.{name}: pretrained: true downloads timm's weights; "
                            "with a checkpoint file set pretrained: false")
    seen = set()
    for run in runs:
        key = (run.encoder, run.resolution)
        if key in seen or run.encoder not in resolved:
            continue
        seen.add(key)
        family = resolved[run.encoder]["family"]
        key = f"matrix.resolutions[{list(config['matrix']['resolutions']).index(run.resolution)}]"
        fix = f"add matrix.exclude {{encoder: {run.encoder}, resolution: {run.resolution}}}"
        if family == "sam2" and run.resolution % SAM2_RESOLUTION_STEP:
            problems.append(f"{key}: {run.resolution} px cannot go through the SAM2 encoder "
                            f"'{run.encoder}' (use a multiple of {SAM2_RESOLUTION_STEP}, or {fix})")
        if family == "sam" and run.resolution != SAM_RESOLUTION:
            problems.append(f"{key}: SAM encoder '{run.encoder}' runs at {SAM_RESOLUTION} px only, "
                            f"not {run.resolution} ({fix})")
    segmenter = crop_segmenter(config)
    lesion = any(r.crop == "lesion" for r in runs)
    if lesion and config["features"]["crop"]["mask_source"] != "files":
        if segmenter is None:
            problems.append("features.crop.segmenter: lesion crops need a SAM2 encoder to segment with; "
                            "add one to encoders (it need not be in matrix.encoders)")
        elif segmenter not in resolved:
            problems.append(f"features.crop.segmenter: unknown encoder '{segmenter}' (defined: {', '.join(config['encoders'])})")
        elif resolved[segmenter]["family"] != "sam2":
            problems.append(f"features.crop.segmenter: '{segmenter}' is a {resolved[segmenter]['family']} encoder; "
                            "lesion masks come from a SAM2 encoder")
    return problems


def crop_segmenter(config: Mapping[str, Any]) -> str | None:
    """The encoder whose SAM2 model segments lesions: features.crop.segmenter, else the first
    SAM2 entry of ``encoders``."""
    named = config["features"]["crop"].get("segmenter")
    if named:
        return named
    for name, entry in config["encoders"].items():
        try:
            if resolve_encoder(name, entry)["family"] == "sam2":
                return name
        except ValueError:
            continue
    return None
