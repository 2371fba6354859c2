"""Which images each head's detectors are fit on, tuned on and reported on.

skin head: in-distribution = lesion + not_skin images; lesion head: in-distribution = lesion
images. OOD = the `ood` source. Fit on the original (copy 0) train rows of the run's view
table; tune on val, report on test (from splits.tsv)."""

from __future__ import annotations

import pandas as pd

ID_SOURCES = {"skin": ("lesion", "not_skin"), "lesion": ("lesion",)}
OOD_SOURCE = "ood"


def require_columns(table: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing} (columns: {list(table.columns)})")


def _class_of(row: pd.Series, head: str) -> str:
    if head == "skin":
        return "skin" if row["source"] == "lesion" else "not_skin"
    return row["lesion_class"]


def fit_rows(manifest: pd.DataFrame, views: pd.DataFrame, head: str, classes: list[str], views_name: str = "views") -> pd.DataFrame:
    """The original train images of the head's in-distribution, with `label` = class index.
    Augmented copies are not in the `images` feature store, so they are left out (and counted
    by the caller)."""
    require_columns(views, ["view_id", "image_id", "source", "split", "copy"], views_name)
    train = views[(views["split"] == "train") & (views["copy"].astype(int) == 0) & views["source"].isin(ID_SOURCES[head])]
    rows = train[["image_id", "source"]].merge(manifest[["image_id", "lesion_class"]], on="image_id", how="left", indicator=True)
    orphans = rows.loc[rows["_merge"] != "both", "image_id"].tolist()
    if orphans:
        raise ValueError(f"{views_name}: {len(orphans)} train image(s) are not in the manifest, e.g. {orphans[:5]}")
    return _with_labels(rows.drop(columns="_merge"), head, classes, views_name)


def eval_rows(manifest: pd.DataFrame, splits: pd.DataFrame, head: str, splits_name: str = "splits") -> pd.DataFrame:
    """The head's in-distribution and OOD images of the val and test splits, with
    `in_distribution` (bool)."""
    require_columns(splits, ["image_id", "split"], splits_name)
    rows = splits[["image_id", "split"]].merge(manifest[["image_id", "source", "lesion_class"]], on="image_id", how="left", indicator=True)
    orphans = rows.loc[rows["_merge"] != "both", "image_id"].tolist()
    if orphans:
        raise ValueError(f"{splits_name}: {len(orphans)} image(s) are not in the manifest, e.g. {orphans[:5]}")
    ood_train = rows.loc[(rows["source"] == OOD_SOURCE) & (rows["split"] == "train"), "image_id"].tolist()
    if ood_train:
        raise ValueError(f"{splits_name}: OOD images must be in val or test only, but {len(ood_train)} are in train, e.g. {ood_train[:5]}")
    keep = rows["split"].isin(["val", "test"]) & rows["source"].isin([*ID_SOURCES[head], OOD_SOURCE])
    rows = rows.loc[keep, ["image_id", "source", "split", "lesion_class"]].reset_index(drop=True)
    rows["in_distribution"] = rows["source"] != OOD_SOURCE
    return rows


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
