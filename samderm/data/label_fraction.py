"""Label efficiency (``experiments.<name>.label_fraction``): train on a seeded, class-stratified
fraction of the training lesion groups.

The units are the split's own groups (the manifest's ``group_id``: lesion_id merged with
near-duplicates), so a lesion is either wholly kept or wholly dropped and no image of a dropped
lesion reaches training through a near-duplicate. Validation and test are never touched: every
fraction is scored on the same images.
"""

from __future__ import annotations

import logging
import math
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

KEY = "label_fraction"
NOT_SKIN = "not_skin"
SUMMARY_COLUMNS = ["class", "groups_before", "groups_after", "images_before", "images_after"]


def check_fraction(fraction: Any) -> float:
    """``fraction`` as a float in (0, 1], or a ValueError naming the key ``label_fraction``."""
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or math.isnan(float(fraction)):
        raise ValueError(f"{KEY}: must be a number in (0, 1], got {fraction!r}")
    if not 0 < float(fraction) <= 1:
        raise ValueError(f"{KEY}: must be in (0, 1] (the fraction of training lesion groups kept; 1.0 keeps all), "
                         f"got {fraction!r}")
    return float(fraction)


def groups_to_keep(n_groups: int, fraction: float) -> int:
    """round(fraction * n_groups), halves rounded up, never fewer than one (nor more than n_groups)."""
    return min(n_groups, max(1, math.floor(fraction * n_groups + 0.5)))


def _group_column(manifest: pd.DataFrame) -> str:
    if "group_id" in manifest:
        return "group_id"
    if "lesion_id" in manifest:
        log.warning("%s: the manifest has no group_id column (the split's groups); using lesion_id", KEY)
        return "lesion_id"
    raise ValueError(f"{KEY}: the manifest has neither group_id nor lesion_id, so lesion groups are unknown; "
                     "rebuild the manifest with build_manifest")


def _train_rows(manifest: pd.DataFrame, splits: pd.DataFrame, group: str) -> pd.DataFrame:
    """Manifest rows (lesion and not-skin) whose split is train."""
    missing = [c for c in ("image_id", "source", "lesion_class") if c not in manifest]
    if missing or not {"image_id", "split"} <= set(splits.columns):
        raise ValueError(f"{KEY}: the manifest needs image_id, source, lesion_class (missing {missing}) and the "
                         f"splits image_id, split (has {list(splits.columns)})")
    split = splits.drop_duplicates("image_id").set_index("image_id")["split"]
    rows = manifest[["image_id", "source", "lesion_class", group]].copy()
    rows["split"] = rows["image_id"].map(split)
    rows = rows[(rows["split"] == "train") & rows["source"].isin(["lesion", NOT_SKIN])]
    rows["lesion_class"] = rows["lesion_class"].fillna("").astype(str)
    rows[group] = rows[group].astype(str)
    return rows.reset_index(drop=True)


def kept_train_images(manifest: pd.DataFrame, splits: pd.DataFrame, fraction: float,
                      seed: int) -> tuple[set[str], pd.DataFrame]:
    """The train image ids to keep, and a per-class summary of what was kept.

    Training lesion groups (source ``lesion``, split ``train``, grouped by the manifest's
    ``group_id`` as the split is) are kept per lesion class: ``groups_to_keep(n, fraction)`` =
    round(fraction * n), at least one, of the class's n groups, drawn with
    ``numpy.random.default_rng(seed)`` (classes in sorted order, groups sorted by id, so the draw
    depends only on the data, the fraction and the seed). A group's class is the most frequent
    lesion_class of its images; a group that mixes classes takes the first of its tied most
    frequent classes in sorted order, and its images of other classes go (or stay) with it:
    groups are never split. Not-skin train images are all kept: the fraction is of labelled
    lesions, and the skin gate's negatives are not lesion annotations. Images of other splits
    are not returned (val and test are untouched: filter only train rows with the result, see
    ``apply_label_fraction``). ``fraction`` 1.0 keeps every train image and draws nothing.

    The summary has one row per lesion class (then ``not_skin``): groups and images before and
    after; images are counted by their own class, groups by the group's class, so the summed
    images_after equals the number of ids returned.
    """
    fraction = check_fraction(fraction)
    group = _group_column(manifest)
    train = _train_rows(manifest, splits, group)
    lesion = train[train["source"] == "lesion"]
    kept_groups: set[str] = set()
    if len(lesion):
        per_group = pd.crosstab(lesion[group], lesion["lesion_class"])  # columns sorted: ties to the first
        group_class = per_group.idxmax(axis=1)
        mixed = int(((per_group > 0).sum(axis=1) > 1).sum())
        if mixed:
            log.info("%s: %d train lesion group(s) mix lesion classes; each counts for its most frequent class",
                     KEY, mixed)
        if fraction == 1.0:
            kept_groups = set(group_class.index)
        else:
            rng = np.random.default_rng(seed)
            for cls in sorted(set(group_class)):
                members = sorted(group_class.index[group_class == cls])
                n_keep = groups_to_keep(len(members), fraction)
                chosen = rng.choice(len(members), size=n_keep, replace=False)
                kept_groups.update(members[i] for i in chosen)
    else:
        group_class = pd.Series(dtype=str)
    kept_lesion = lesion[lesion[group].isin(kept_groups)]
    kept = set(kept_lesion["image_id"]) | set(train.loc[train["source"] == NOT_SKIN, "image_id"])

    rows = []
    kept_group_class = group_class[group_class.index.isin(kept_groups)]
    for cls in sorted(set(lesion["lesion_class"]) | set(group_class)):
        rows.append({"class": cls, "groups_before": int((group_class == cls).sum()),
                     "groups_after": int((kept_group_class == cls).sum()),
                     "images_before": int((lesion["lesion_class"] == cls).sum()),
                     "images_after": int((kept_lesion["lesion_class"] == cls).sum())})
    not_skin = train[train["source"] == NOT_SKIN]
    if len(not_skin):
        n_groups, n_images = int(not_skin[group].nunique()), len(not_skin)
        rows.append({"class": NOT_SKIN, "groups_before": n_groups, "groups_after": n_groups,
                     "images_before": n_images, "images_after": n_images})
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    log.info("%s %g (seed %d): kept %d of %d train lesion groups, %d of %d train images\n%s", KEY, fraction, seed,
             len(kept_groups), len(group_class), len(kept), len(train), summary.to_string(index=False))
    return kept, summary


def apply_label_fraction(views: pd.DataFrame, manifest: pd.DataFrame, splits: pd.DataFrame, fraction: float,
                         seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``views`` without the train views (augmented copies included) of the train images
    ``kept_train_images`` drops; val, test and every other row stay (a view unknown to the
    manifest is left for build_run_data to refuse). Returns (views, summary)."""
    kept, summary = kept_train_images(manifest, splits, fraction, seed)
    train_ids = set(_train_rows(manifest, splits, _group_column(manifest))["image_id"])
    drop = (views["split"] == "train") & views["image_id"].isin(train_ids - kept)
    log.info("%s %g: %d of %d train views left out", KEY, float(fraction), int(drop.sum()),
             int((views["split"] == "train").sum()))
    return views[~drop].reset_index(drop=True), summary
