"""Which images each head's detectors are fit on, tuned on and reported on.

skin head: in-distribution = lesion + not_skin images; lesion head: in-distribution = lesion
images. OOD = the `ood` source, plus the images of the run's held-out lesion classes
(experiments.<name>.held_out_classes: the run never trained on them). Fit on the original (copy 0)
train rows of the run's view table; tune on val, report on test (from splits.tsv), each OOD row with
its level (`ood_level`, far | near | shift).

External test sources (manifest source `external`, split `external:{name}` in splits.tsv) join as test OOD
only: a row of level `shift` (a mapped image of a source in ood.shift: the study's classes under another
camera or population) or `near` (an unmapped class kept as near OOD, category `{name}:{label}`). They are
never tuned on (val) and never in-distribution; an external row without a level is neither OOD nor
in-distribution and stays out of the OOD step. In the OOD step's tables their `split` is `test` (the split
reports, val tunes); `source` stays `external` and `category` names the source."""

from __future__ import annotations

from typing import Collection

import pandas as pd

from samderm.data.splits import EXTERNAL_PREFIX, FAR, NEAR, SHIFT, is_external_split

ID_SOURCES = {"skin": ("lesion", "not_skin"), "lesion": ("lesion",)}
OOD_SOURCE = "ood"
EXTERNAL_SOURCE = "external"  # images of an external test source (samderm.data.splits.external_split)
EXTERNAL_LEVELS = (SHIFT, NEAR, FAR)  # the levels an external row may have (far is not made today, but is OOD)
HELD_OUT_PREFIX = "held_out:"  # the category of a held-out lesion class's images, e.g. held_out:DF


def is_held_out(rows: pd.DataFrame, held_out_classes: Collection[str]) -> pd.Series:
    """Lesion rows of a class the run was trained without."""
    return (rows["source"] == "lesion") & rows["lesion_class"].isin(list(held_out_classes))


def external_as_test(rows: pd.DataFrame, name: str = "splits") -> pd.DataFrame:
    """``rows`` (image_id, split, ood_level, source, category at least) with the external rows put where the OOD
    step uses them: a row of split ``external:{name}`` with an OOD level becomes a test row (category the
    manifest's, else the source's name); one without a level is dropped (neither OOD nor in-distribution).
    Refuses a shift row outside the external splits (shift OOD is test only and never tunes) and an external
    row of an unknown level."""
    external = is_external_split(rows["split"]).to_numpy()
    level = rows["ood_level"].fillna("").astype(str)
    misplaced = rows.loc[(level == SHIFT).to_numpy() & ~external, ["image_id", "split"]]
    if len(misplaced):
        raise ValueError(f"{name}: {len(misplaced)} image(s) of OOD level {SHIFT!r} are in split(s) "
                         f"{sorted(set(misplaced['split']))}, e.g. {misplaced['image_id'].iloc[0]!r}: shift OOD comes from "
                         f"external test sources only ({EXTERNAL_PREFIX}{{name}}) and never tunes")
    unknown = sorted(set(level[external]) - {"", *EXTERNAL_LEVELS})
    if unknown:
        raise ValueError(f"{name}: external rows of unknown OOD level(s) {unknown}; known: {list(EXTERNAL_LEVELS)} or empty")
    keep = ~external | (level != "").to_numpy()
    rows = rows.loc[keep].copy()
    moved = is_external_split(rows["split"]).to_numpy()
    source_name = rows.loc[moved, "split"].astype(str).str.slice(len(EXTERNAL_PREFIX))
    category = rows["category"].fillna("").astype(str) if "category" in rows else pd.Series("", index=rows.index)
    rows["category"] = category.mask(moved & (category == "").to_numpy(), source_name.reindex(rows.index))
    rows.loc[moved, "split"] = "test"
    return rows.reset_index(drop=True)


def require_columns(table: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing} (columns: {list(table.columns)})")


def _class_of(row: pd.Series, head: str) -> str:
    if head == "skin":
        return "skin" if row["source"] == "lesion" else "not_skin"
    return row["lesion_class"]


def fit_rows(manifest: pd.DataFrame, views: pd.DataFrame, head: str, classes: list[str], views_name: str = "views",
             held_out_classes: Collection[str] = ()) -> pd.DataFrame:
    """The original train images of the head's in-distribution, with `label` = class index.
    Augmented copies are not in the `images` feature store, so they are left out (and counted
    by the caller); so are held-out classes, which the run never trained on."""
    require_columns(views, ["view_id", "image_id", "source", "split", "copy"], views_name)
    train = views[(views["split"] == "train") & (views["copy"].astype(int) == 0) & views["source"].isin(ID_SOURCES[head])]
    rows = train[["image_id", "source"]].merge(manifest[["image_id", "lesion_class"]], on="image_id", how="left", indicator=True)
    orphans = rows.loc[rows["_merge"] != "both", "image_id"].tolist()
    if orphans:
        raise ValueError(f"{views_name}: {len(orphans)} train image(s) are not in the manifest, e.g. {orphans[:5]}")
    rows = rows[~is_held_out(rows, held_out_classes)]
    return _with_labels(rows.drop(columns="_merge"), head, classes, views_name)


def eval_rows(manifest: pd.DataFrame, splits: pd.DataFrame, head: str, splits_name: str = "splits",
              held_out_classes: Collection[str] = ()) -> pd.DataFrame:
    """The head's in-distribution and OOD images of the val and test splits, with
    `in_distribution` (bool), `category` (the manifest's for OOD rows, ``held_out:{class}`` for
    held-out lesion classes, empty for in-distribution rows) and `ood_level` (splits.tsv's level;
    near for held-out classes; far for a splits table without levels; empty in-distribution).
    External OOD rows (level shift or near) are test OOD rows of source ``external`` (``external_as_test``)."""
    require_columns(splits, ["image_id", "split"], splits_name)
    levels = splits["ood_level"] if "ood_level" in splits else pd.Series("", index=splits.index)
    manifest_columns = ["image_id", "source", "lesion_class"] + (["category"] if "category" in manifest else [])
    rows = splits[["image_id", "split"]].assign(ood_level=levels.fillna("")).merge(
        manifest[manifest_columns], on="image_id", how="left", indicator=True)
    orphans = rows.loc[rows["_merge"] != "both", "image_id"].tolist()
    if orphans:
        raise ValueError(f"{splits_name}: {len(orphans)} image(s) are not in the manifest, e.g. {orphans[:5]}")
    ood_train = rows.loc[(rows["source"] == OOD_SOURCE) & (rows["split"] == "train"), "image_id"].tolist()
    if ood_train:
        raise ValueError(f"{splits_name}: OOD images must be in val or test only, but {len(ood_train)} are in train, e.g. {ood_train[:5]}")
    stray = rows.loc[(rows["source"] == EXTERNAL_SOURCE) & ~is_external_split(rows["split"]), "image_id"].tolist()
    if stray:
        raise ValueError(f"{splits_name}: images of source {EXTERNAL_SOURCE!r} must be in an {EXTERNAL_PREFIX}{{name}} split "
                         f"(test only, never tuned on), but {len(stray)} are not, e.g. {stray[:5]}")
    rows = external_as_test(rows, splits_name)
    keep = rows["split"].isin(["val", "test"]) & rows["source"].isin([*ID_SOURCES[head], OOD_SOURCE, EXTERNAL_SOURCE])
    rows = rows.loc[keep].reset_index(drop=True)
    held_out = is_held_out(rows, held_out_classes)
    rows["in_distribution"] = ~rows["source"].isin([OOD_SOURCE, EXTERNAL_SOURCE]) & ~held_out
    category = rows["category"].fillna("") if "category" in rows else pd.Series("", index=rows.index)
    rows["category"] = category.where(~rows["in_distribution"], "").where(~held_out, HELD_OUT_PREFIX + rows["lesion_class"])
    level = rows["ood_level"].where(rows["ood_level"] != "", FAR).where(~held_out, NEAR)
    rows["ood_level"] = level.where(~rows["in_distribution"], "")
    return rows[["image_id", "source", "split", "lesion_class", "in_distribution", "category", "ood_level"]]


def _with_labels(rows: pd.DataFrame, head: str, classes: list[str], name: str) -> pd.DataFrame:
    names = rows.apply(_class_of, axis=1, head=head) if len(rows) else pd.Series([], dtype=str)
    unknown = rows.loc[~names.isin(classes), "image_id"].tolist()
    if unknown:
        example = rows.loc[~names.isin(classes)].iloc[0]
        raise ValueError(
            f"{name}: {len(unknown)} {head} row(s) have a class the head does not know {classes}, "
            f"e.g. image {example['image_id']!r} ({_class_of(example, head)!r})"
        )
    rows = rows.reset_index(drop=True)
    rows["label"] = [classes.index(n) for n in names]
    return rows
