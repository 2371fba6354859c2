"""Balancing views: what one strategy trains on (capped originals + augmented copies).

Only train rows change; val/test rows pass through as originals. Copies are rows with
the exact transform parameters, rendered later by ``augment.render_view``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Mapping

import pandas as pd

from samderm.data.augment import sample_transform
from samderm.data.hashing import seeded_order
from samderm.data.labels import ISIC_CLASSES, UNK
from samderm.io import read_tsv, write_tsv

log = logging.getLogger(__name__)

VIEW_COLUMNS = ["view_id", "image_id", "source", "split", "copy", "transform"]
BALANCE_COLUMNS = ["class", "before", "capped", "augmented", "after"]
STRATEGY_KEYS = {"caps", "augment_to", "seed", "augment"}


def view_id(image_id: str, copy: int) -> str:
    return image_id if copy == 0 else f"{image_id}__aug{copy}"


def _validate(name: str, cfg: Mapping[str, Any]) -> tuple[dict[str, int], int, int, dict]:
    key = f"balancing.{name}"
    unknown = set(cfg) - STRATEGY_KEYS
    if unknown:
        raise ValueError(f"{key}: unknown key(s) {sorted(unknown)}; known: {sorted(STRATEGY_KEYS)}")
    caps = dict(cfg.get("caps") or {})
    for cls, cap in caps.items():
        if cls not in (*ISIC_CLASSES, UNK):
            raise ValueError(f"{key}.caps: unknown class {cls!r}; classes are {[*ISIC_CLASSES, UNK]}")
        if int(cap) < 0:
            raise ValueError(f"{key}.caps.{cls}: must be >= 0, got {cap}")
    augment_to = int(cfg.get("augment_to", 0) or 0)
    if augment_to < 0:
        raise ValueError(f"{key}.augment_to: must be >= 0, got {augment_to}")
    augment = dict(cfg.get("augment") or {})
    if augment_to and not augment:
        raise ValueError(f"{key}.augment: required when augment_to > 0 (copies would equal their originals)")
    return {c: int(v) for c, v in caps.items()}, augment_to, int(cfg.get("seed", 0) or 0), augment


def make_views(
    manifest: pd.DataFrame, splits: pd.DataFrame, name: str, cfg: Mapping[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(views, balance table) of one balancing strategy ``name`` with config ``cfg``."""
    caps, augment_to, seed, augment = _validate(name, cfg)
    ok = manifest[(manifest["status"] == "ok") & manifest["source"].isin(["lesion", "not_skin"])]
    rows = ok[["image_id", "source", "lesion_class"]].merge(splits[["image_id", "split"]], on="image_id", how="left")
    unsplit = rows.loc[rows["split"].isna(), "image_id"].tolist()
    if unsplit:
        raise ValueError(f"splits table has no row for {len(unsplit)} ok manifest image(s), e.g. {unsplit[:5]}")
    is_lesion_train = (rows["source"] == "lesion") & (rows["split"] == "train")
    classes = [c for c in (*ISIC_CLASSES, UNK) if c in set(rows.loc[rows["source"] == "lesion", "lesion_class"])]

    keep = rows[~is_lesion_train]
    kept_train, copies, balance = [], [], []
    for cls in classes:
        originals = rows.loc[is_lesion_train & (rows["lesion_class"] == cls), "image_id"].tolist()
        chosen = sorted(seeded_order(originals, seed)[: caps[cls]]) if cls in caps else sorted(originals)
        kept_train.extend(chosen)
        n_copies = max(0, augment_to - len(chosen)) if chosen else 0
        if augment_to > len(chosen) and not chosen:
            log.warning("balancing.%s: class %s has no train images to augment", name, cls)
        for k in range(n_copies):
            # round-robin over the originals: copy index 1 for each, then 2, ...
            image_id, copy = chosen[k % len(chosen)], k // len(chosen) + 1
            transform = sample_transform(image_id, copy, seed, augment)
            copies.append({"view_id": view_id(image_id, copy), "image_id": image_id, "source": "lesion",
                           "split": "train", "copy": copy, "transform": json.dumps(transform, sort_keys=True)})
        balance.append({"class": cls, "before": len(originals), "capped": len(originals) - len(chosen),
                        "augmented": n_copies, "after": len(chosen) + n_copies})

    originals = pd.concat([keep, rows[rows["image_id"].isin(kept_train) & is_lesion_train]])
    originals = originals.assign(view_id=originals["image_id"], copy=0, transform="")
    views = pd.concat([originals[VIEW_COLUMNS], pd.DataFrame(copies, columns=VIEW_COLUMNS)])
    views = views.sort_values(["image_id", "copy"], kind="stable").reset_index(drop=True)
    table = pd.DataFrame(balance, columns=BALANCE_COLUMNS)
    log.info("balancing %s: %d views (%d augmented copies)\n%s", name, len(views), len(copies), table.to_string(index=False))
    return views, table


def make_views_files(manifest_path, splits_path, name: str, cfg: Mapping[str, Any], views_path, balance_path) -> None:
    views, table = make_views(read_tsv(manifest_path), read_tsv(splits_path), name, cfg)
    write_tsv(views, views_path)
    write_tsv(table, balance_path)
