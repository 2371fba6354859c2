"""Official encoder checkpoints: sha256 verification, and their download (sha256-checked, atomic)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from samderm.data.download import fetch
from samderm.io import sha256_file


log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file or URL."""


def checked_checkpoint(path: str | Path, sha256: str | None, name: str) -> tuple[Path, str]:
    """An existing checkpoint file and its sha256, which must equal ``sha256`` when given."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    digest = verify_sha256(path, sha256)
    if sha256 is None:
        log.warning("encoders.%s.sha256 is null: %s loaded unverified (sha256 %s)", name, path, digest)
    return path, digest


def load_failure(path: Path, target: str, err: Exception) -> CheckpointError:
    """A load error that names the file and the model; strict-load errors list hundreds of keys: keep the start."""
    detail = " ".join(str(err).split())
    detail = detail if len(detail) <= 400 else detail[:400] + " ..."
    return CheckpointError(f"{path} does not load into {target}: {detail}")


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


def hub_cache() -> Path:
    """The Hugging Face hub cache as huggingface_hub resolves it, read now (its constants are read at import)."""
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(cache)).expanduser()
