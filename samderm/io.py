"""Small file helpers shared by every step: atomic writes, TSV tables, and the size and sha256
recorded when a file is written and checked when it is read."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success,
    so a killed job never leaves a half-written file that looks complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_tsv(df: pd.DataFrame, path: str | Path, header_comment: str | None = None) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            if header_comment:
                fh.write(f"# {header_comment}\n")
            df.to_csv(fh, sep="\t", index=False)


def read_tsv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a TSV written by ``write_tsv``; ids stay strings, empty cells stay empty strings."""
    return pd.read_csv(path, sep="\t", comment="#", dtype=str, keep_default_na=False, **kwargs)


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


class CorruptFileError(ValueError):
    """A file whose size or sha256 is not what its writer recorded, or that has no record; the message
    names the file and how to rebuild it."""


def file_hash(path: str | Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> "hashlib._Hash":
    """The hash object of a file's bytes, read in 1 MiB blocks (update it further to go on)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest


def sha256_file(path: str | Path) -> str:
    """A file's sha256 (hex)."""
    return file_hash(path).hexdigest()


def file_digest(path: str | Path) -> dict:
    """{"bytes": size, "sha256": hex digest} of a file."""
    return {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}


def digest_sidecar(path: str | Path) -> Path:
    """Where a file without a settings file of its own keeps its size and sha256: ``{path}.sha256``."""
    return Path(f"{path}.sha256")


def record_digest(written: str | Path, path: str | Path) -> None:
    """Write the size and sha256 of ``written`` (the temporary file of ``atomic_path``) to ``path``'s sidecar,
    before ``written`` is renamed to ``path``: the file never exists without its record."""
    write_json(file_digest(written), digest_sidecar(path))


def read_digest(record: str | Path) -> dict | None:
    """The digest a sidecar holds; None when it is missing or unreadable (the file then has no record)."""
    try:
        digest = read_json(record)
    except (OSError, ValueError):
        return None
    return digest if isinstance(digest, dict) else None


def check_sidecar_digest(path: str | Path, rebuild: str | None = None) -> None:
    """``check_digest`` of ``path`` against its sidecar."""
    check_digest(path, read_digest(digest_sidecar(path)), digest_sidecar(path), rebuild)


def check_digest(path: str | Path, recorded: dict | None, record: str | Path, rebuild: str | None = None,
                 error: type[Exception] = CorruptFileError) -> None:
    """Raise ``error`` unless ``path`` has the size and sha256 ``recorded`` (kept in the file ``record``) at write
    time: a file truncated or overwritten (e.g. on a full disk) is refused, never read. ``rebuild`` ends the
    message; by default it says how a study rebuilds one of its declared outputs."""
    if rebuild is None:
        rebuild = ("Rebuild it: delete it and run the study again with the same snakemake command (Snakemake "
                   "then reruns the job that writes it and every job downstream), "
                   f"e.g. rm {path} && snakemake --profile slurm")
    if not isinstance(recorded, dict) or not {"bytes", "sha256"} <= recorded.keys():
        raise error(f"{path} has no recorded checksum in {record} (written before samderm recorded checksums, or "
                    f"the record was removed or damaged); a file that cannot be checked is never used. {rebuild}")
    size = os.path.getsize(path)
    if size != recorded["bytes"]:
        found = f"{size:,} bytes, but {recorded['bytes']:,} were written"
    elif (sha256 := sha256_file(path)) != recorded["sha256"]:
        found = f"its {size:,} bytes have sha256 {sha256[:12]}..., but {recorded['sha256'][:12]}... was written"
    else:
        return
    raise error(f"{path} is damaged: {found} (size and sha256 recorded in {record}); a truncated or overwritten "
                f"file is never used. {rebuild}")
