"""Which views one feature store holds: every ok image (``images``) or the augmented
copies of one balancing strategy (``aug-{balancing}``), each with its file and transform."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from samderm.io import read_tsv

MANIFEST_COLUMNS = ("image_id", "path", "source", "status")
VIEW_COLUMNS = ("view_id", "image_id", "copy", "transform")


def _require(df: pd.DataFrame, columns, path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")


def store_views(manifest_path: str | Path, viewset: str, views_path: str | Path | None = None) -> pd.DataFrame:
    """Rows ``view_id, image_id, path, mask_path, transform`` (transform a dict) in store order."""
    manifest = read_tsv(manifest_path)
    _require(manifest, MANIFEST_COLUMNS, manifest_path)
    ok = manifest[manifest["status"] == "ok"].copy()
    if "mask_path" not in ok.columns:
        ok["mask_path"] = ""
    if ok["image_id"].duplicated().any():
        dup = ok.loc[ok["image_id"].duplicated(), "image_id"].iloc[0]
        raise ValueError(f"{manifest_path}: image_id {dup!r} appears in more than one ok row")
    ok = ok[["image_id", "path", "mask_path"]]
    if viewset == "images":
        return ok.assign(view_id=ok["image_id"], transform=[{} for _ in range(len(ok))])[
            ["view_id", "image_id", "path", "mask_path", "transform"]
        ].reset_index(drop=True)
    if not viewset.startswith("aug-") or views_path is None:
        raise ValueError(f"viewset {viewset!r}: expected 'images', or 'aug-<balancing>' with its views table")
    views = read_tsv(views_path)
    _require(views, VIEW_COLUMNS, views_path)
    copies = views[pd.to_numeric(views["copy"], errors="raise") > 0]
    known = set(ok["image_id"])
    rows = []
    for line, row in copies.iterrows():
        where = f"{views_path} line {line + 2} (view {row['view_id']!r})"  # line in the file: header is line 1
        if row["image_id"] not in known:
            raise ValueError(f"{where}: image_id {row['image_id']!r} is not an ok row of {manifest_path}")
        try:
            transform = json.loads(row["transform"])
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: transform is not JSON: {err}") from None
        rows.append({"view_id": row["view_id"], "image_id": row["image_id"], "transform": transform})
    out = pd.DataFrame(rows, columns=["view_id", "image_id", "transform"])
    if out["view_id"].duplicated().any():
        raise ValueError(f"{views_path}: view_id {out.loc[out['view_id'].duplicated(), 'view_id'].iloc[0]!r} repeats")
    out = out.merge(ok, on="image_id", how="left", validate="many_to_one")
    return out[["view_id", "image_id", "path", "mask_path", "transform"]].reset_index(drop=True)
