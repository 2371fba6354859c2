"""Fetch real data sets: sha256-checked downloads, atomic renames, safe unpacking."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

from samderm.data import isic
from samderm.data.hashing import sha256_file
from samderm.io import atomic_path
from samderm.logs import progress

log = logging.getLogger(__name__)

CHUNK = 1 << 20
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
# what each data set must contain once unpacked
EXPECTED = {
    "isic2019": (isic.IMAGE_FOLDER, isic.GROUND_TRUTH, isic.METADATA),
    "places365": ("val_256",),
}


def _chunks(response, size: int) -> Iterator[bytes]:
    while block := response.read(size):
        yield block


def fetch(url: str, dest: str | Path, sha256: str | None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``; keep it only if its sha256 matches (a file already
    there with the right hash is not fetched again)."""
    dest = Path(dest)
    if not (isinstance(sha256, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha256)):
        raise ValueError(f"{url}: a sha256 (64 hex digits) is required to download it, got {sha256!r}")
    if urllib.parse.urlparse(url).scheme not in ("http", "https", "file"):
        raise ValueError(f"{url}: only http, https and file URLs are allowed")
    expected = sha256.lower()
    if dest.is_file():
        if sha256_file(dest) == expected:
            log.info("%s: already present with the expected sha256", dest)
            return dest
        log.warning("%s: present but its sha256 differs; fetching it again", dest)
        dest.unlink()
    digest = hashlib.sha256()
    with atomic_path(dest) as tmp, open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = math.ceil(int(length) / CHUNK) if length else None
        for block in progress(_chunks(response, CHUNK), desc=dest.name, total=total, unit="MiB"):
            digest.update(block)
            out.write(block)
        out.close()
        if digest.hexdigest() != expected:
            # raising inside atomic_path deletes the partial file
            raise ValueError(f"{url}: sha256 mismatch: expected {expected}, got {digest.hexdigest()}; download deleted")
    log.info("fetched %s -> %s (%d bytes)", url, dest, dest.stat().st_size)
    return dest


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack(archive: str | Path, dest_dir: str | Path) -> int:
    """Extract a zip or tar into ``dest_dir``, refusing members that would land outside it."""
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    root = dest_dir.resolve()
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if not (root / name).resolve().is_relative_to(root):
                    raise ValueError(f"{archive}: member {name!r} would be written outside {dest_dir}")
            zf.extractall(dest_dir)
            return sum(1 for info in zf.infolist() if not info.is_dir())
    with tarfile.open(archive) as tf:
        try:
            tf.extractall(dest_dir, filter="data")  # refuses absolute paths, '..' and links out
        except tarfile.FilterError as err:
            raise ValueError(f"{archive}: unsafe member: {err}") from None
        return sum(1 for member in tf.getmembers() if member.isfile())


def download_items(name: str, cfg: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``data.download.<name>`` as {config key: {url, sha256}}: its own url and/or ``files``."""
    items = {f"data.download.{name}": cfg} if cfg.get("url") else {}
    for key, item in (cfg.get("files") or {}).items():
        items[f"data.download.{name}.files.{key}"] = item
    if not items:
        raise ValueError(f"data.download.{name}: no url and no files configured")
    return items


def download_dataset(name: str, cfg: Mapping[str, Any], out_dir: str | Path) -> None:
    """Fetch data set ``name`` (config ``data.download.<name>``) into ``out_dir``: archives
    are unpacked there (and deleted), other files kept under their URL's file name."""
    if name not in EXPECTED:
        raise ValueError(f"data.download: unknown data set {name!r}; known: {sorted(EXPECTED)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for where, item in download_items(name, cfg).items():
        if not item.get("url"):
            raise ValueError(f"{where}.url: not set")
        if not item.get("sha256"):
            raise ValueError(f"{where}.sha256: not set; a download is only kept if its sha256 matches")
        file_name = Path(urllib.parse.urlparse(item["url"]).path).name
        if is_archive(file_name):
            with tempfile.TemporaryDirectory(dir=out_dir, prefix=".download-") as tmp:
                archive = fetch(item["url"], Path(tmp) / file_name, item["sha256"])
                n = unpack(archive, out_dir)
            log.info("%s: unpacked %d files from %s into %s", where, n, file_name, out_dir)
        else:
            fetch(item["url"], out_dir / file_name, item["sha256"])
    missing = [entry for entry in EXPECTED[name] if not (out_dir / entry).exists()]
    if missing:
        raise ValueError(f"{out_dir}: after download the {name} layout lacks {missing}; check data.download.{name}")
