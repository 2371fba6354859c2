"""A loss module from a config entry ``losses.<name>`` and the task's training class counts."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from samderm.losses.base import ClassLoss
from samderm.losses.focal import FocalLoss
from samderm.losses.ldam import LDAMLoss
from samderm.losses.lmf import LMFLoss
from samderm.losses.parameters import LOSS_TYPES, loss_parameter
from samderm.losses.weighted_ce import WeightedCrossEntropy

# the paper's LDAM uses s=30 on a cosine-normalised last layer; LMF contains LDAM
COSINE_LOSSES = ("ldam", "ldam_drw", "lmf")


def focal_alpha(cfg: Mapping[str, Any], task: str) -> list[float] | None:
    """Focal's per-class alpha is given per task ({task: [one value per class]}): one
    list cannot fit a 2-class and an 8-class task at once."""
    alpha = cfg.get("alpha")
    if alpha is None:
        return None
    if not isinstance(alpha, Mapping):
        raise ValueError(f"focal alpha must be a mapping {{task: [per-class alpha]}} or null, got {alpha!r}")
    return alpha.get(task)


def _ldam(cfg: Mapping[str, Any], class_counts: Sequence[int]) -> LDAMLoss:
    p = lambda key: loss_parameter(cfg, key)  # noqa: E731
    if cfg["type"] != "ldam_drw":
        return LDAMLoss(class_counts, max_m=p("max_m"), s=p("s"))
    if cfg.get("drw_epoch") is None:
        raise ValueError("ldam_drw needs drw_epoch: resolve_drw_epoch(cfg, epochs) sets it from drw_fraction")
    return LDAMLoss(class_counts, max_m=p("max_m"), s=p("s"), drw_epoch=int(cfg["drw_epoch"]), drw_beta=p("drw_beta"))


def build_loss(cfg: Mapping[str, Any], class_counts: Sequence[int], task: str = "") -> ClassLoss:
    kind = cfg.get("type")
    if kind not in LOSS_TYPES:
        raise ValueError(f"unknown loss type '{kind}' (expected one of {', '.join(LOSS_TYPES)})")
    p = lambda key: loss_parameter(cfg, key)  # noqa: E731
    if kind == "weighted_ce":
        return WeightedCrossEntropy(class_counts, p("weighting"), p("beta"))
    if kind == "focal":
        return FocalLoss(len(class_counts), p("gamma"), focal_alpha(cfg, task))
    if kind == "lmf":
        return LMFLoss(_ldam(cfg, class_counts), FocalLoss(len(class_counts), p("gamma")), alpha=p("alpha"), beta=p("beta"))
    return _ldam(cfg, class_counts)


def cosine_scale(cfg: Mapping[str, Any]) -> float | None:
    """The logit scale s of a cosine-normalised last layer, or None for a plain linear one."""
    return float(loss_parameter(cfg, "s")) if cfg.get("type") in COSINE_LOSSES else None


def mixup_alpha(cfg: Mapping[str, Any]) -> float | None:
    mixup = cfg.get("balanced_mixup")
    return float(mixup.get("alpha", 0.2)) if mixup else None
