"""Official SAM2.1 checkpoints: sha256 verification, and their download (sha256-checked, atomic)."""

from __future__ import annotations

from pathlib import Path

from samderm.data.download import fetch
from samderm.data.hashing import sha256_file


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file or URL."""


def verify_sha256(path: str | Path, expected: str | None) -> str:
    """The file's sha256; raises when ``expected`` is given and differs."""
    actual = sha256_file(path)
    if expected is not None and actual != expected.lower():
        raise CheckpointError(f"{path}: sha256 {actual} does not match the expected {expected}")
    return actual


def download_checkpoint(url: str, dest: str | Path, sha256: str | None, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` with the data downloader: the file appears only once its sha256 matches."""
    try:
        return fetch(url, dest, sha256, timeout=timeout)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"cannot download checkpoint {url}: {err}") from err
