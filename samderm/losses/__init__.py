"""Losses for one task's logits, built from a config entry ``losses.<name>`` and the task's
training class counts. Every loss accepts class indices or soft targets.

The torch modules load on first use, so that checking a config (``parameters``) needs no torch."""

from __future__ import annotations

import importlib
from typing import Any

from samderm.losses.parameters import LOSS_PARAMETERS, LOSS_TYPES, loss_config_problems, resolve_drw_epoch

_LAZY = {
    "ClassLoss": "base", "FocalLoss": "focal", "LDAMLoss": "ldam", "ldam_margins": "ldam", "LMFLoss": "lmf",
    "WeightedCrossEntropy": "weighted_ce", "build_loss": "build", "cosine_scale": "build", "mixup_alpha": "build",
}

__all__ = ["LOSS_PARAMETERS", "LOSS_TYPES", "loss_config_problems", "resolve_drw_epoch", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'samderm.losses' has no attribute {name!r}")
    return getattr(importlib.import_module(f"samderm.losses.{_LAZY[name]}"), name)
