"""Train/val/test splits: stratified by class, grouped by the manifest's group_id (lesion_id
merged with near-duplicates), seeded; OOD images to
val (tuning) or test by whole categories, so tuning never sees a test OOD category.

sklearn has no grouped *and* stratified split with arbitrary fractions, so the three-way
split is a small greedy assignment; the optional k folds use StratifiedGroupKFold.
"""

from __future__ import annotations

import logging
from typing import Any, Collection, Mapping

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from samderm.data.hashing import seeded_order
from samderm.data.manifest import is_tuning_ood
from samderm.io import read_tsv, write_tsv

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
UNLABELED = "unlabeled"  # the split of every unlabeled image: never train, val or test of a labelled task
# how the OOD images were divided into tuning (val) and test: the `ood_protocol` column of splits.tsv
HELD_OUT_CATEGORIES = "held_out_categories"  # data.ood_dir by category: val and test share no category
TUNING_FOLDER = "tuning_folder"  # val = all of data.ood_tune_dir, test = all of data.ood_dir
# OOD difficulty levels (the `ood_level` column): near = close to the in-distribution images (data.ood_levels.near)
FAR, NEAR = "far", "near"
OOD_LEVELS = (FAR, NEAR)
# external test sources (data.sources, source ``external`` in the manifest): split ``external:{name}``, never
# trained or tuned on; a source named in ood.shift is also OOD level ``shift`` (a change of camera or population,
# not of class), its unmapped classes under ``unmapped: near_ood`` are level ``near``
EXTERNAL_PREFIX = "external:"
SHIFT = "shift"


def external_split(name: str) -> str:
    return f"{EXTERNAL_PREFIX}{name}"


def is_external_split(split: pd.Series) -> pd.Series:
    return split.astype(str).str.startswith(EXTERNAL_PREFIX)


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

    First every class with at least one group per split (of positive fraction) gets one
    group in each of them: its smallest groups, the smallest into the smallest split. The
    other groups go largest first (seeded order among equals) to the split whose per-class
    deficit they reduce most. A group never straddles two splits; a group's class is its
    most frequent label. A class with too few groups is named in the log.
    """
    names = list(fractions)
    per_group = pd.crosstab(groups, labels)  # groups x classes
    counts = per_group.to_numpy(dtype=float)
    class_size = counts.sum(axis=0)
    target = class_size[:, None] * np.array([fractions[s] for s in names])[None, :]  # classes x splits
    current = np.zeros_like(target)
    position = {g: i for i, g in enumerate(per_group.index)}
    order = seeded_order(per_group.index, seed)
    assignment: dict[str, str] = {}

    def assign(group: str, split: int) -> None:
        assignment[group] = names[split]
        current[:, split] += counts[position[group]]

    for group, split in _one_group_per_split(per_group, order, fractions):
        assign(group, split)
    # largest first; the sort is stable, so groups of one size keep their seeded order
    rest = sorted((g for g in order if g not in assignment), key=lambda g: -counts[position[g]].sum())
    tie_break = np.array([fractions[s] for s in names]) * 1e-9
    for g in rest:
        c = counts[position[g]]
        # deficit relative to each class's size, so rare classes count as much as common ones
        need = (((target - current) / class_size[:, None]) * c[:, None]).sum(axis=0)
        assign(g, int(np.argmax(need + tie_break)))
    return groups.map(assignment)


def _one_group_per_split(per_group: pd.DataFrame, order: list[str], fractions: Mapping[str, float]) -> list[tuple[str, int]]:
    """(group, split index) pairs that put one group of each class into each split of positive
    fraction; a class with fewer groups than such splits is logged and left to the greedy pass."""
    names = list(fractions)
    open_splits = sorted((i for i, s in enumerate(names) if fractions[s] > 0), key=lambda i: (fractions[names[i]], i))
    main_class = per_group.idxmax(axis=1).to_dict()  # first column on ties
    size = per_group.sum(axis=1).to_dict()
    picks: list[tuple[str, int]] = []
    for cls in per_group.columns:
        members = sorted((g for g in order if main_class[g] == cls), key=lambda g: size[g])  # stable: seeded within a size
        if len(members) < len(open_splits):
            log.warning("class %s has %d lesion group(s), fewer than the %d splits %s: it cannot be placed in every split "
                        "(it goes where its groups fit best)", cls, len(members), len(open_splits),
                        [names[i] for i in sorted(open_splits)])
            continue
        picks += zip(members, open_splits)
    return picks


def ood_levels_of(categories, levels_cfg: Mapping[str, Any] | None) -> dict[str, str]:
    """category -> ``far`` | ``near``: the categories ``data.ood_levels.near`` names are near, all others far."""
    near = [str(c) for c in (levels_cfg or {}).get(NEAR) or []]
    unknown = sorted(set(near) - set(categories))
    if unknown:
        raise ValueError(f"data.ood_levels.near: {unknown} are no OOD category (subfolder of data.ood_dir or "
                         f"data.ood_tune_dir); the categories are {sorted(set(categories))}")
    return {c: NEAR if c in near else FAR for c in categories}


def _held_out_categories(category_level: Mapping[str, str], val_fraction: float, seed: int) -> set[str]:
    """The val (tuning) categories, drawn per level (seeded): every level with >= 2 categories gets
    ``val_fraction`` of them, at least one in val and one in test; a level's only category goes to test
    unless no other level put one into val."""
    val: set[str] = set()
    singles = []
    for level in OOD_LEVELS:
        categories = seeded_order({c for c, lv in category_level.items() if lv == level}, seed)
        if len(categories) == 1:
            singles.append((level, categories[0]))
        elif categories:
            n_val = min(max(int(round(len(categories) * val_fraction)), 1), len(categories) - 1)
            val.update(categories[:n_val])
    for i, (level, category) in enumerate(singles):
        to_val = not val and i == 0 and len(category_level) > 1
        if to_val:
            val.add(category)
        log.warning("OOD level %s has one category (%s): it is only in %s", level, category, "val" if to_val else "test")
    return val


def split_ood(ood: pd.DataFrame, val_fraction: float, seed: int, levels_cfg: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """``image_id, split, ood_protocol, ood_level`` of the OOD rows (``image_id, category``).

    Tuning (val) and test OOD never share a category: with tuning-folder images
    (``is_tuning_ood``) those are val and all others test; otherwise whole categories go to
    val (``val_fraction`` of them, seeded, at least one) and the rest to test (at least one),
    drawn per level (``levels_cfg``, data.ood_levels), so each level with two or more categories
    is in both val and test.
    """
    category_level = ood_levels_of(set(ood["category"]), levels_cfg)
    tuning = is_tuning_ood(ood["image_id"]).to_numpy()
    if tuning.any():
        shared = sorted(set(ood.loc[tuning, "category"]) & set(ood.loc[~tuning, "category"]))
        if shared:
            raise ValueError(f"data.ood_tune_dir and data.ood_dir share the OOD categories {shared} (subfolder names): "
                             "tuning and test OOD must not share a category; rename or move one of them")
        split, protocol = np.where(tuning, "val", "test"), TUNING_FOLDER
    else:
        categories = sorted(category_level)
        if len(categories) < 2:
            raise ValueError(f"the OOD images form {len(categories)} category {categories}, but tuning (val) and test OOD "
                             "need different categories: put them into at least two subfolders of data.ood_dir "
                             "(one per category), or give the tuning images their own folder in data.ood_tune_dir")
        val = _held_out_categories(category_level, val_fraction, seed)
        split, protocol = np.where(ood["category"].isin(val), "val", "test"), HELD_OUT_CATEGORIES
    out = pd.DataFrame({"image_id": ood["image_id"].to_numpy(), "split": split, "ood_protocol": protocol,
                        "ood_level": ood["category"].map(category_level).to_numpy()})
    for name in ("val", "test"):
        chosen = ood[split == name]
        log.info("OOD %s (%s): %d image(s) of the categories %s", name, protocol, len(chosen),
                 {lv: sorted(set(chosen.loc[out["ood_level"].to_numpy()[split == name] == lv, "category"]))
                  for lv in OOD_LEVELS})
    return out


def ood_protocol(splits: pd.DataFrame) -> str:
    """The OOD protocol a splits table records; ``unrecorded`` for a table without it."""
    column = splits["ood_protocol"].fillna("") if "ood_protocol" in splits else []
    recorded = sorted(set(column) - {""})
    if len(recorded) > 1:
        raise ValueError(f"splits: several OOD protocols {recorded} in one table")
    return recorded[0] if recorded else "unrecorded"


def external_splits(external: pd.DataFrame, shift: Collection[str] = ()) -> pd.DataFrame:
    """Splits rows of the ok ``external`` manifest rows: split ``external:{dataset}``; ood_level ``near`` for an
    unmapped class kept as near OOD (a ``category``), ``shift`` for the rest of a source named in ood.shift."""
    level = np.where(external["category"] != "", NEAR, np.where(external["dataset"].isin(list(shift)), SHIFT, ""))
    return pd.DataFrame({"image_id": external["image_id"], "split": EXTERNAL_PREFIX + external["dataset"], "fold": -1,
                         "ood_protocol": "", "ood_level": level})


def make_splits(manifest: pd.DataFrame, splits_cfg: Mapping[str, Any],
                ood_levels: Mapping[str, Any] | None = None, shift: Collection[str] = ()) -> pd.DataFrame:
    """``image_id, split, fold, ood_protocol, ood_level`` for every ``ok`` row of the manifest
    (``ood_levels``: data.ood_levels; ``shift``: ood.shift, external sources that are also OOD level shift).
    External rows change no other row's split."""
    fractions, folds, ood_val, seed = _validate(splits_cfg)
    missing = [c for c in ("category", "group_id") if c not in manifest]
    if missing:
        raise ValueError(f"manifest: no {missing} column(s) (the OOD split needs category, the grouping group_id); "
                         "rebuild the manifest with build_manifest")
    ok = manifest[manifest["status"] == "ok"].reset_index(drop=True)
    trainable = ok[ok["source"].isin(["lesion", "not_skin"])]
    # stratify by lesion class; not-skin images form one more class of solo groups
    strata = trainable["lesion_class"].where(trainable["source"] == "lesion", "not_skin")
    split = grouped_stratified_split(strata, trainable["group_id"], fractions, seed)
    out = pd.DataFrame({"image_id": trainable["image_id"], "split": split, "fold": -1, "ood_protocol": "", "ood_level": ""})

    ood = ok[ok["source"] == "ood"]
    if len(ood):
        out = pd.concat([out, split_ood(ood, ood_val, seed, ood_levels).assign(fold=-1)])
    unlabeled = ok.loc[ok["source"] == "unlabeled", "image_id"]
    out = pd.concat([out, pd.DataFrame({"image_id": unlabeled, "split": UNLABELED, "fold": -1, "ood_protocol": "", "ood_level": ""})])
    external = ok[ok["source"] == "external"]
    if len(external):
        out = pd.concat([out, external_splits(external, shift)])
    out = out.set_index("image_id").loc[ok["image_id"]].reset_index()

    if folds:
        dev = out["split"].isin(["train", "val"]) & ok["source"].isin(["lesion", "not_skin"]).to_numpy()
        dev_rows = ok[dev.to_numpy()]
        dev_strata = dev_rows["lesion_class"].where(dev_rows["source"] == "lesion", "not_skin")
        kfold = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        fold = np.full(len(dev_rows), -1)
        for k, (_, held) in enumerate(kfold.split(dev_rows, dev_strata, dev_rows["group_id"])):
            fold[held] = k
        out.loc[dev.to_numpy(), "fold"] = fold
    _log_counts(out, ok)
    return out[["image_id", "split", "fold", "ood_protocol", "ood_level"]]


def _log_counts(out: pd.DataFrame, ok: pd.DataFrame) -> None:
    label = ok["lesion_class"].where(ok["source"].isin(["lesion", "external"]) & (ok["lesion_class"] != ""), ok["source"])
    table = pd.crosstab(label.to_numpy(), out["split"].to_numpy(), rownames=["class"], colnames=["split"])
    others = [s for s in dict.fromkeys(out["split"]) if s not in SPLITS]  # unlabeled, external:{name}
    table = table.reindex(columns=[*SPLITS, *others], fill_value=0)
    log.info("split counts (%d images):\n%s", len(out), table.to_string())


def make_splits_file(manifest_path, splits_cfg: Mapping[str, Any], splits_path,
                     ood_levels: Mapping[str, Any] | None = None, shift: Collection[str] = ()) -> None:
    write_tsv(make_splits(read_tsv(manifest_path), splits_cfg, ood_levels, shift), splits_path)
