"""Resumable work: fixed row ranges, each saved atomically once done, in a directory kept
across failed runs; a fingerprint of the settings guards against reusing stale shards, and each
shard's size and sha256 (``{k:05d}.{kind}.sha256``) against reusing a truncated or overwritten one."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from samderm.io import (CorruptFileError, atomic_path, check_sidecar_digest, read_json, read_tsv, record_digest,
                        write_json, write_tsv)

log = logging.getLogger(__name__)


class ShardDir:
    def __init__(self, path: str | Path, n_rows: int, shard_size: int, fingerprint: dict):
        self.path = Path(path)
        self.ranges = [range(start, min(start + shard_size, n_rows)) for start in range(0, n_rows, shard_size)]
        stamp = self.path / "fingerprint.json"
        if stamp.exists() and read_json(stamp) != fingerprint:
            log.warning("settings changed since %s was written: discarding its shards", self.path)
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        if not stamp.exists():
            write_json(fingerprint, stamp)

    def _file(self, k: int, kind: str) -> Path:
        return self.path / f"{k:05d}.{kind}"

    def has(self, k: int, kind: str, view_ids: Sequence[str]) -> bool:
        """Shard k of this kind is saved intact and holds exactly these views; a damaged one is logged
        and counts as missing, so it is computed again."""
        path = self._file(k, kind)
        if not path.exists():
            return False
        try:
            self._check(k, kind, "This run computes the shard again.")
        except CorruptFileError as err:
            log.warning("%s", err)
            return False
        return self.view_ids(k, kind) == list(view_ids)

    def _check(self, k: int, kind: str, rebuild: str = "Run the job again: it computes the shard again.") -> None:
        check_sidecar_digest(self._file(k, kind), rebuild)

    def _save(self, k: int, kind: str, write: Callable[[Path], None]) -> None:
        path = self._file(k, kind)
        with atomic_path(path) as tmp:
            write(tmp)
            record_digest(tmp, path)

    def view_ids(self, k: int, kind: str) -> list[str]:
        path = self._file(k, kind)
        if kind.endswith(".npz"):
            with np.load(path, allow_pickle=False) as saved:
                return saved["view_ids"].tolist()
        return read_tsv(path)["view_id"].tolist()

    def save_features(self, k: int, view_ids: Sequence[str], features: np.ndarray) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
                np.savez(fh, view_ids=np.array(view_ids, dtype=str), features=features)

        self._save(k, "features.npz", write)

    def load_features(self, k: int) -> np.ndarray:
        self._check(k, "features.npz")
        with np.load(self._file(k, "features.npz"), allow_pickle=False) as saved:
            return saved["features"]

    def save_table(self, k: int, kind: str, table: pd.DataFrame) -> None:
        self._save(k, kind, lambda tmp: write_tsv(table, tmp))

    def load_table(self, k: int, kind: str) -> pd.DataFrame:
        self._check(k, kind)
        return read_tsv(self._file(k, kind))

    def remove(self) -> None:
        shutil.rmtree(self.path)
