"""Label maps from the `labels` config: the lesion classes and their benign/malignant side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

# the class columns of ISIC_2019_Training_GroundTruth.csv, in the official order
ISIC_CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")
UNK = "UNK"
SIDES = ("malignant", "benign")


@dataclass(frozen=True)
class LabelMap:
    """``classes``: lesion task classes (UNK last when kept); ``malignancy``: class -> side
    (UNK has no side: its malignancy is unknown)."""

    classes: tuple[str, ...]
    malignancy: Mapping[str, str]


def label_map(labels_cfg: Mapping[str, Any], unk: str) -> LabelMap:
    """Validate the `labels` section; every error names the offending key."""
    classes = list(labels_cfg.get("lesion_classes") or [])
    if not classes:
        raise ValueError("labels.lesion_classes: must list at least one class")
    unknown = [c for c in classes if c not in ISIC_CLASSES]
    if unknown:
        raise ValueError(f"labels.lesion_classes: unknown class(es) {unknown}; ISIC 2019 classes are {list(ISIC_CLASSES)}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"labels.lesion_classes: lists a class twice: {classes}")
    ak_side = labels_cfg.get("ak_side", "malignant")
    if ak_side not in SIDES:
        raise ValueError(f"labels.ak_side: must be one of {list(SIDES)}, got {ak_side!r}")
    if unk not in ("drop", "keep"):
        raise ValueError(f"data.unk: must be 'drop' or 'keep', got {unk!r}")

    side_of: dict[str, str] = {}
    for side in SIDES:
        for cls in labels_cfg.get(side) or []:
            if cls not in classes:
                raise ValueError(f"labels.{side}: {cls!r} is not in labels.lesion_classes {classes}")
            if cls == "AK" and side != ak_side:
                raise ValueError(f"labels.{side}: lists AK but labels.ak_side is {ak_side!r}")
            if cls in side_of and side_of[cls] != side:
                raise ValueError(f"labels: class {cls!r} is in both labels.malignant and labels.benign")
            side_of[cls] = side
    if "AK" in classes:
        side_of["AK"] = ak_side  # AK is indeterminate in the ISIC taxonomy: its side is a choice
    missing = [c for c in classes if c not in side_of]
    if missing:
        raise ValueError(f"labels: class(es) {missing} are on neither side: add them to labels.malignant or labels.benign")
    if unk == "keep":
        classes.append(UNK)
    return LabelMap(classes=tuple(classes), malignancy={c: side_of[c] for c in classes if c in side_of})
