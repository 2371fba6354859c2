"""Official SAM2.1 checkpoints: sha256 verification and an atomic, verified download."""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from pathlib import Path

from samderm.io import atomic_path

log = logging.getLogger(__name__)
CHUNK = 1 << 20


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file or URL."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str | None) -> str:
    """The file's sha256; raises when ``expected`` is given and differs."""
    actual = sha256_of(path)
    if expected is not None and actual != expected.lower():
        raise CheckpointError(f"{path}: sha256 {actual} does not match the expected {expected}")
    return actual


def download_checkpoint(url: str, dest: str | Path, sha256: str, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest``; the file appears only once its sha256 matches."""
    if not sha256:
        raise CheckpointError(f"refusing to download {url} without a sha256 to check it against")
    dest = Path(dest)
    digest = hashlib.sha256()
    size = 0
    log.info("downloading %s -> %s", url, dest)
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        except OSError as err:
            raise CheckpointError(f"cannot download {url}: {err}") from err
        if digest.hexdigest() != sha256.lower():
            raise CheckpointError(
                f"{url}: downloaded sha256 {digest.hexdigest()} does not match the expected {sha256}; "
                f"{dest} was not written"
            )
    log.info("downloaded %d bytes, sha256 %s verified", size, sha256)
    return dest
