"""Losses for one task's logits, built from a config entry ``losses.<name>`` and the task's
training class counts. Every loss accepts class indices or soft targets."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from samderm.losses.base import ClassLoss
from samderm.losses.focal import FocalLoss
from samderm.losses.ldam import LDAMLoss, ldam_margins
from samderm.losses.lmf import LMFLoss
from samderm.losses.weighted_ce import WeightedCrossEntropy

LOSS_TYPES = ("weighted_ce", "focal", "ldam", "lmf")
# the paper's LDAM uses s=30 on a cosine-normalised last layer; LMF contains LDAM
COSINE_LOSSES = ("ldam", "lmf")

__all__ = ["ClassLoss", "FocalLoss", "LDAMLoss", "LMFLoss", "WeightedCrossEntropy", "build_loss",
           "cosine_scale", "ldam_margins", "mixup_alpha"]


def _ldam(cfg: Mapping[str, Any], class_counts: Sequence[int]) -> LDAMLoss:
    return LDAMLoss(class_counts, max_m=cfg.get("max_m", 0.5), s=cfg.get("s", 30.0),
                    drw_epoch=cfg.get("drw_epoch"), beta=cfg.get("beta", 0.9999))


def focal_alpha(cfg: Mapping[str, Any], task: str) -> list[float] | None:
    """Focal's per-class alpha is given per task ({task: [one value per class]}): one
    list cannot fit a 2-class and an 8-class task at once."""
    alpha = cfg.get("alpha")
    if alpha is None:
        return None
    if not isinstance(alpha, Mapping):
        raise ValueError(f"focal alpha must be a mapping {{task: [per-class alpha]}} or null, got {alpha!r}")
    return alpha.get(task)


def build_loss(cfg: Mapping[str, Any], class_counts: Sequence[int], task: str = "") -> ClassLoss:
    kind = cfg.get("type")
    n = len(class_counts)
    if kind == "weighted_ce":
        return WeightedCrossEntropy(class_counts, cfg.get("weighting", "inverse_frequency"), cfg.get("beta", 0.999))
    if kind == "focal":
        return FocalLoss(n, cfg.get("gamma", 2.0), focal_alpha(cfg, task))
    if kind == "ldam":
        return _ldam(cfg, class_counts)
    if kind == "lmf":
        return LMFLoss(_ldam(cfg, class_counts), FocalLoss(n, cfg.get("gamma", 2.0)),
                       alpha=cfg.get("alpha") if cfg.get("alpha") is not None else 1.0,
                       beta=cfg.get("lmf_beta", 1.0))
    raise ValueError(f"unknown loss type '{kind}' (expected one of {', '.join(LOSS_TYPES)})")


def cosine_scale(cfg: Mapping[str, Any]) -> float | None:
    """The logit scale s of a cosine-normalised last layer, or None for a plain linear one."""
    return float(cfg.get("s", 30.0)) if cfg.get("type") in COSINE_LOSSES else None


def mixup_alpha(cfg: Mapping[str, Any]) -> float | None:
    mixup = cfg.get("balanced_mixup")
    return float(mixup.get("alpha", 0.2)) if mixup else None
