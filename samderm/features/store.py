"""The feature store: features.npy (N x D, memory-mappable), index.tsv (view_id per row),
settings.json (with both files' size and sha256 under "files"); written once from shards, read
(and checked against those digests) by every later step."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from samderm.io import atomic_path, check_digest, file_digest, read_json, read_tsv, write_json, write_tsv

STORE_FILES = ("features.npy", "index.tsv", "settings.json")
CHECKED_FILES = ("features.npy", "index.tsv")  # their size and sha256 are in settings.json, written last
MASK_FILES = ("masks.tsv", "settings.json")  # a lesion-mask store (samderm.features.masks)
FORMAT = "samderm-features/1"


class StoreError(ValueError):
    """A feature store that is missing, incomplete or inconsistent; the message names it."""


def read_store(store_dir: str | Path) -> tuple[list[str], np.ndarray, dict]:
    """One store: (view ids, memory-mapped features, settings), each file checked against the size and
    sha256 recorded when it was written, and the rows against the index."""
    store_dir = Path(store_dir)
    missing = [name for name in STORE_FILES if not (store_dir / name).is_file()]
    if missing:
        raise StoreError(f"feature store {store_dir} is incomplete: missing {', '.join(missing)}")
    settings = read_json(store_dir / "settings.json")
    for name in CHECKED_FILES:
        check_digest(store_dir / name, settings.get("files", {}).get(name), store_dir / "settings.json",
                     error=StoreError)
    index = read_tsv(store_dir / "index.tsv")
    if "view_id" not in index.columns:
        raise StoreError(f"{store_dir / 'index.tsv'}: no view_id column (columns: {list(index.columns)})")
    view_ids = index["view_id"].tolist()
    features = np.load(store_dir / "features.npy", mmap_mode="r")
    if features.ndim != 2 or features.shape[0] != len(view_ids):
        raise StoreError(
            f"{store_dir / 'features.npy'}: shape {features.shape} does not match "
            f"{len(view_ids)} rows of {store_dir / 'index.tsv'}"
        )
    return view_ids, features, settings


def load_features(store_dirs: str | Path | Sequence[str | Path]) -> tuple[list[str], np.ndarray]:
    """The stores concatenated in the given order, as float32 (a copy in memory)."""
    if isinstance(store_dirs, (str, Path)):
        store_dirs = [store_dirs]
    if not store_dirs:
        raise StoreError("load_features needs at least one feature store directory")
    all_ids: list[str] = []
    parts: list[np.ndarray] = []
    seen: dict[str, Path] = {}
    for store_dir in map(Path, store_dirs):
        view_ids, features, _ = read_store(store_dir)
        if parts and features.shape[1] != parts[0].shape[1]:
            raise StoreError(
                f"{store_dir}: {features.shape[1]}-d features cannot be joined with "
                f"{parts[0].shape[1]}-d features of {store_dirs[0]}"
            )
        for view_id in view_ids:
            if view_id in seen:
                where = "twice in" if seen[view_id] == store_dir else f"in {seen[view_id]} and"
                raise StoreError(f"view id {view_id!r} appears {where} {store_dir}")
            seen[view_id] = store_dir
        all_ids.extend(view_ids)
        parts.append(features)
    return all_ids, np.concatenate(parts, axis=0).astype(np.float32, copy=False)


def write_store(
    store_dir: str | Path,
    view_ids: Sequence[str],
    blocks: Iterable[np.ndarray],
    dim: int,
    dtype: str,
    settings: dict,
) -> None:
    """Write row blocks (e.g. shards, read one at a time) into features.npy without holding
    them all in memory; every file is written atomically, settings.json last with the others' digests."""
    store_dir = Path(store_dir)
    with atomic_path(store_dir / "features.npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=(len(view_ids), dim))
        row = 0
        for block in blocks:
            if row + len(block) > len(view_ids):
                raise StoreError(f"{store_dir}: more feature rows than the {len(view_ids)} view ids")
            out[row : row + len(block)] = block
            row += len(block)
        if row != len(view_ids):
            raise StoreError(f"{store_dir}: blocks hold {row} rows, expected {len(view_ids)}")
        out.flush()
        del out
    write_tsv(pd.DataFrame({"view_id": list(view_ids)}), store_dir / "index.tsv")
    files = {name: file_digest(store_dir / name) for name in CHECKED_FILES}
    write_json({"format": FORMAT, **settings, "files": files}, store_dir / "settings.json")
