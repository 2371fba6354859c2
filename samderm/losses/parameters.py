"""The keys of each loss type with their defaults, and the problems of a ``losses`` entry.
Free of torch: the workflow checks a config before any job starts."""

from __future__ import annotations

from typing import Any, Mapping

# Cao et al. 2019: 200 epochs, deferred re-weighting from epoch 160 with effective-number beta 0.9999
DRW_FRACTION = 0.8
DRW_BETA = 0.9999

LOSS_PARAMETERS: dict[str, dict[str, Any]] = {
    "weighted_ce": {"weighting": "inverse_frequency", "beta": 0.999},  # beta: Cui et al.'s effective number
    "focal": {"gamma": 2.0, "alpha": None},  # alpha: per task, per class (Lin et al.'s alpha_t)
    "ldam": {"max_m": 0.5, "s": 30.0},
    "ldam_drw": {"max_m": 0.5, "s": 30.0, "drw_epoch": None, "drw_fraction": DRW_FRACTION, "drw_beta": DRW_BETA},
    # Sadi et al.'s code: lmf = alpha * LDAM + beta * focal, both 1 by default
    "lmf": {"alpha": 1.0, "beta": 1.0, "gamma": 2.0, "max_m": 0.5, "s": 30.0},
}
LOSS_TYPES = tuple(LOSS_PARAMETERS)
EVERY_LOSS_KEYS = ("type", "balanced_mixup")


def loss_parameter(cfg: Mapping[str, Any], key: str) -> Any:
    """The value of ``key`` in a loss entry, or its type's default when absent or null."""
    value = cfg.get(key)
    return LOSS_PARAMETERS[cfg["type"]][key] if value is None else value


def resolve_drw_epoch(cfg: Mapping[str, Any], epochs: int) -> dict[str, Any]:
    """The entry with ldam_drw's ``drw_epoch`` set: as given, else floor(drw_fraction * epochs)
    of the experiment (160 of 200 with the default 0.8, as in the paper)."""
    cfg = dict(cfg)
    if cfg.get("type") == "ldam_drw" and cfg.get("drw_epoch") is None:
        cfg["drw_epoch"] = int(loss_parameter(cfg, "drw_fraction") * epochs + 1e-9)  # 0.8 * 200 -> 160
    return cfg


def _renamed(name: str, kind: str, key: str, value: Any) -> str | None:
    """The message for a key an older samderm config used, showing the new form."""
    if key == "lmf_beta":
        return (f"losses.{name}.lmf_beta was renamed: write `beta: {value}` (lmf: alpha weights the LDAM term, "
                "beta the focal term, as in Sadi et al.'s code)")
    if kind in ("ldam", "ldam_drw") and key == "beta":
        return (f"losses.{name}.beta was renamed: write `drw_beta: {value}` (the effective-number beta of "
                "deferred re-weighting, type ldam_drw)")
    if kind == "ldam" and key in ("drw_epoch", "drw_fraction", "drw_beta"):
        return (f"losses.{name}.{key}: deferred re-weighting is its own loss type: write "
                f"`{{type: ldam_drw, {key}: {value}}}` (type ldam never re-weights)")
    return None


def loss_config_problems(losses: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per problem of the ``losses`` section: keys a type does not take (null is
    allowed anywhere), keys renamed since, and an lmf alpha that is not one number."""
    problems = []
    for name, cfg in losses.items():
        kind = cfg.get("type")
        if kind not in LOSS_PARAMETERS:
            problems.append(f"losses.{name}.type: unknown loss type '{kind}' (expected one of {', '.join(LOSS_TYPES)})")
            continue
        for key, value in cfg.items():
            if value is None or key in EVERY_LOSS_KEYS or key in LOSS_PARAMETERS[kind]:
                continue
            problems.append(_renamed(name, kind, key, value) or (
                f"losses.{name}.{key} does nothing for type {kind} (its keys: {', '.join(LOSS_PARAMETERS[kind])})"))
        beta = cfg.get("beta")
        if kind == "weighted_ce" and beta is not None and not 0 <= beta < 1:
            problems.append(f"losses.{name}.beta: the effective-number beta must be in [0, 1) (got {beta})")
        alpha = cfg.get("alpha")
        if kind == "lmf" and alpha is not None and not isinstance(alpha, (int, float)):
            problems.append(f"losses.{name}.alpha: lmf's alpha is one number, the weight of the LDAM term (got {alpha!r})")
    return problems
