"""One run's training data: the views of its balancing strategy, their labels, and their
feature rows matched by view_id."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.data.splits import EXTERNAL_PREFIX, external_split
from samderm.train.tasks import NO_LABEL, label_matrix

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


@dataclass
class RunData:
    tasks: dict[str, list[str]]
    features: np.ndarray        # (N, D) float32, one row per view
    labels: np.ndarray          # (N, T) int64, NO_LABEL where a task does not apply
    split: np.ndarray           # (N,) train | val | test
    image_ids: np.ndarray       # (N,)
    original: np.ndarray        # (N,) bool: copy 0 (the image itself, not an augmented copy)

    def rows(self, split: str, task: str | None = None, originals_only: bool = False) -> np.ndarray:
        keep = self.split == split
        if task is not None:
            keep &= self.labels[:, list(self.tasks).index(task)] != NO_LABEL
        if originals_only:
            keep &= self.original
        return np.flatnonzero(keep)


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")


def _first(mask: pd.Series, values: pd.Series, n: int = 5) -> list[str]:
    return values[mask].head(n).tolist()


def external_views(manifest: pd.DataFrame, splits: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """View rows (originals, split ``external:{name}``) of the external test sources ``names``
    (evaluation.external): every trained head predicts them; none is trained or tuned on."""
    wanted = splits[splits["split"].isin([external_split(n) for n in names])]
    missing = sorted(set(names) - {s.removeprefix(EXTERNAL_PREFIX) for s in wanted["split"]})
    if missing:
        raise ValueError(f"evaluation.external: {missing} have no ok image in splits.tsv (check data.sources and the "
                         "manifest's rejected.tsv)")
    source = wanted["image_id"].map(manifest.drop_duplicates("image_id").set_index("image_id")["source"])
    return pd.DataFrame({"view_id": wanted["image_id"], "image_id": wanted["image_id"], "source": source,
                         "split": wanted["split"], "copy": 0, "transform": ""})


def build_run_data(views: pd.DataFrame, manifest: pd.DataFrame, view_ids: Sequence[str], features: np.ndarray,
                   tasks: Mapping[str, list[str]], splits: pd.DataFrame | None = None,
                   held_out: Collection[str] = ()) -> RunData:
    """Join views to manifest labels (and check them against ``splits``), then take each view's
    feature row; a view without a feature row is an error, never skipped. Images of a ``held_out``
    lesion class lose their train views (the run never sees them) and their lesion label."""
    _require(views, ["view_id", "image_id", "source", "split", "copy"], "views")
    _require(manifest, ["image_id", "source", "lesion_class", "malignancy"], "manifest")
    table = views.merge(manifest[["image_id", "lesion_class", "malignancy"]], on="image_id", how="left", indicator=True)
    unknown = table["_merge"] == "left_only"
    if unknown.any():
        raise ValueError(f"views: {int(unknown.sum())} image_id(s) not in the manifest, e.g. {_first(unknown, table['image_id'])}")
    bad_split = ~(table["split"].isin(SPLITS) | table["split"].str.startswith(EXTERNAL_PREFIX))
    if bad_split.any():
        raise ValueError(f"views: unknown split(s) {sorted(set(table['split'][bad_split]))} (expected {SPLITS} "
                         f"or {EXTERNAL_PREFIX}<source>)")
    held_out_train = (table["split"] == "train") & (table["source"] == "lesion") & table["lesion_class"].isin(list(held_out))
    if held_out:
        log.info("held-out lesion classes %s: %d train views left out (every task), their val/test images have no "
                 "lesion label", sorted(held_out), int(held_out_train.sum()))
    table = table[~held_out_train].reset_index(drop=True)
    if splits is not None:
        _require(splits, ["image_id", "split"], "splits")
        expected = table["image_id"].map(splits.drop_duplicates("image_id").set_index("image_id")["split"])
        differ = expected != table["split"]
        if differ.any():
            raise ValueError(f"views: {int(differ.sum())} view(s) whose split disagrees with (or is missing from) "
                             f"splits.tsv, e.g. {_first(differ, table['view_id'])}")
    position = pd.Series(np.arange(len(view_ids)), index=pd.Index(list(view_ids)))
    if position.index.has_duplicates:
        raise ValueError(f"feature stores: duplicate view_id(s), e.g. {position.index[position.index.duplicated()][:5].tolist()}")
    rows = table["view_id"].map(position)
    absent = rows.isna()
    if absent.any():
        raise ValueError(f"feature stores: {int(absent.sum())} view(s) have no feature row, e.g. {_first(absent, table['view_id'])}")
    data = RunData(
        tasks={t: list(c) for t, c in tasks.items()},
        features=np.ascontiguousarray(np.asarray(features)[rows.to_numpy(dtype=np.int64)], dtype=np.float32),
        labels=label_matrix(table, tasks, held_out),
        split=table["split"].to_numpy(dtype=str),
        image_ids=table["image_id"].to_numpy(dtype=str),
        original=table["copy"].astype(int).to_numpy() == 0,
    )
    log.info("%d views (%d augmented copies) matched to %d of %d feature rows; %d feature rows are not views of this run",
             len(table), int((~data.original).sum()), len(table), len(view_ids), len(view_ids) - len(table))
    for task in data.tasks:
        counts = {s: len(data.rows(s, task)) for s in dict.fromkeys([*SPLITS, *data.split])}
        log.info("task %s: %s rows", task, ", ".join(f"{s} {n}" for s, n in counts.items()))
    return data
