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
FAMILIES = tuple(FAMILY_KEYS)
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
        if family == "timm" and not cfg.get("model"):
            problems.append(f"encoders.{name}.model: name the timm model, e.g. vit_small_patch14_dinov2.lvd142m")
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
