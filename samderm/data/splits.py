"""Train/val/test splits: stratified by class, grouped by lesion_id, seeded.

sklearn has no grouped *and* stratified split with arbitrary fractions, so the three-way
split is a small greedy assignment; the optional k folds use StratifiedGroupKFold.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from samderm.data.hashing import seeded_order
from samderm.io import read_tsv, write_tsv

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def _validate(cfg: Mapping[str, Any]) -> tuple[dict[str, float], int, float, int]:
    fractions = dict(cfg.get("fractions") or {})
    if sorted(fractions) != sorted(SPLITS):
        raise ValueError(f"splits.fractions: needs exactly the keys {list(SPLITS)}, got {sorted(fractions)}")
    if any(float(v) < 0 for v in fractions.values()) or abs(sum(map(float, fractions.values())) - 1) > 1e-6:
        raise ValueError(f"splits.fractions: must be >= 0 and sum to 1, got {fractions}")
    folds = int(cfg.get("folds", 0) or 0)
    if folds < 0 or folds == 1:
        raise ValueError(f"splits.folds: 0 (off) or >= 2, got {folds}")
    ood_val = float(cfg.get("ood_val_fraction", 0.5))
    if not 0 <= ood_val <= 1:
        raise ValueError(f"splits.ood_val_fraction: must be in [0, 1], got {ood_val}")
    return {k: float(fractions[k]) for k in SPLITS}, folds, ood_val, int(cfg.get("seed", 0))


def grouped_stratified_split(labels: pd.Series, groups: pd.Series, fractions: Mapping[str, float], seed: int) -> pd.Series:
    """Assign whole groups to splits so each class is near its target fraction per split.

    Groups go largest first (seeded order among equals) to the split whose per-class
    deficit they reduce most; a group never straddles two splits.
    """
    names = list(fractions)
    per_group = pd.crosstab(groups, labels)  # groups x classes
    counts = per_group.to_numpy(dtype=float)
    class_size = counts.sum(axis=0)
    target = class_size[:, None] * np.array([fractions[s] for s in names])[None, :]  # classes x splits
    current = np.zeros_like(target)
    position = {g: i for i, g in enumerate(per_group.index)}
    order = seeded_order(per_group.index, seed)
    order = sorted(order, key=lambda g: -counts[position[g]].sum())  # stable: keeps the seeded order within a size
    tie_break = np.array([fractions[s] for s in names]) * 1e-9
    assignment: dict[str, str] = {}
    for g in order:
        c = counts[position[g]]
        # deficit relative to each class's size, so rare classes count as much as common ones
        need = (((target - current) / class_size[:, None]) * c[:, None]).sum(axis=0)
        best = int(np.argmax(need + tie_break))
        assignment[g] = names[best]
        current[:, best] += c
    return groups.map(assignment)


def make_splits(manifest: pd.DataFrame, splits_cfg: Mapping[str, Any]) -> pd.DataFrame:
    """``image_id, split, fold`` for every ``ok`` row of the manifest."""
    fractions, folds, ood_val, seed = _validate(splits_cfg)
    ok = manifest[manifest["status"] == "ok"].reset_index(drop=True)
    trainable = ok[ok["source"].isin(["lesion", "not_skin"])]
    # stratify by lesion class; not-skin images form one more class of solo groups
    strata = trainable["lesion_class"].where(trainable["source"] == "lesion", "not_skin")
    split = grouped_stratified_split(strata, trainable["lesion_id"], fractions, seed)
    out = pd.DataFrame({"image_id": trainable["image_id"], "split": split, "fold": -1})

    ood = seeded_order(ok.loc[ok["source"] == "ood", "image_id"], seed)
    n_val = int(round(len(ood) * ood_val))
    out = pd.concat([out, pd.DataFrame({"image_id": ood, "split": ["val"] * n_val + ["test"] * (len(ood) - n_val), "fold": -1})])
    out = out.set_index("image_id").loc[ok["image_id"]].reset_index()

    if folds:
        dev = out["split"].isin(["train", "val"]) & ok["source"].isin(["lesion", "not_skin"]).to_numpy()
        dev_rows = ok[dev.to_numpy()]
        dev_strata = dev_rows["lesion_class"].where(dev_rows["source"] == "lesion", "not_skin")
        kfold = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        fold = np.full(len(dev_rows), -1)
        for k, (_, held) in enumerate(kfold.split(dev_rows, dev_strata, dev_rows["lesion_id"])):
            fold[held] = k
        out.loc[dev.to_numpy(), "fold"] = fold
    _log_counts(out, ok)
    return out[["image_id", "split", "fold"]]


def _log_counts(out: pd.DataFrame, ok: pd.DataFrame) -> None:
    label = ok["lesion_class"].where(ok["source"] == "lesion", ok["source"])
    table = pd.crosstab(label.to_numpy(), out["split"].to_numpy(), rownames=["class"], colnames=["split"])
    table = table.reindex(columns=list(SPLITS), fill_value=0)
    log.info("split counts (%d images):\n%s", len(out), table.to_string())


def make_splits_file(manifest_path, splits_cfg: Mapping[str, Any], splits_path) -> None:
    write_tsv(make_splits(read_tsv(manifest_path), splits_cfg), splits_path)
