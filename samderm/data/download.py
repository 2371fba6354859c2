"""Fetch real data sets: checksum-verified, resumable downloads, atomic renames, safe unpacking."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

from samderm.data import isic
from samderm.logs import progress

log = logging.getLogger(__name__)

CHUNK = 1 << 20
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
# what each data set must contain once unpacked (official layouts)
EXPECTED = {
    "isic2019": (isic.IMAGE_FOLDER, isic.GROUND_TRUTH, isic.METADATA),
    "isic2019_test": ("ISIC_2019_Test_Input",),  # the unlabeled pool: test images, labels never published in full
    "places365": ("val_256", "places365_val.txt", "categories_places365.txt"),
    "dtd": ("dtd/images",),
}


def checksum_problem(item: Mapping[str, Any], where: str, md5_allowed: bool = True) -> str | None:
    """Why ``item`` ({url, sha256} or, where the publisher gives only md5, {url, md5}) cannot be
    verified, naming the key; None when it can."""
    sha256, md5 = item.get("sha256"), item.get("md5")
    if sha256 is not None:
        if isinstance(sha256, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            return None
        if isinstance(sha256, str) and re.fullmatch(r"[0-9a-fA-F]{32}", sha256):
            return f"{where}.sha256: {sha256!r} is an md5 (32 hex digits), not a sha256 (64)" + (
                f"; where the publisher gives only md5, write it as {where}.md5" if md5_allowed else "")
        return f"{where}.sha256: {sha256!r} is not a sha256 (64 hex digits)"
    if md5 is not None and md5_allowed:
        if isinstance(md5, str) and re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            return None
        return f"{where}.md5: {md5!r} is not an md5 (32 hex digits)"
    return f"{where}.sha256: missing (a download is kept only if it matches: give the sha256sum of the file you trust)"


def _expected_checksum(item: Mapping[str, Any], where: str) -> tuple[str, str]:
    problem = checksum_problem(item, where)
    if problem:
        raise ValueError(problem)
    return ("sha256", item["sha256"].lower()) if item.get("sha256") else ("md5", item["md5"].lower())


def file_digest(path: str | Path, algorithm: str) -> "hashlib._Hash":
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest


def _chunks(response, size: int) -> Iterator[bytes]:
    while block := response.read(size):
        yield block


def _open(url: str, offset: int, timeout: float):
    """The response for ``url`` from byte ``offset`` on (HTTP Range); None when the part is already whole."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # range not satisfiable: the partial file has every byte
            return None
        raise


def fetch(url: str, dest: str | Path, sha256: str | None = None, timeout: float = 60.0, md5: str | None = None) -> Path:
    """Download ``url`` to ``dest``; keep it only if its checksum matches.

    Bytes go to ``dest.part`` first; a broken transfer leaves it, and the next call asks the
    server for the rest (HTTP Range) instead of starting over. A file already at ``dest`` with
    the right checksum is not fetched again. ``md5`` only where the publisher gives no sha256.
    """
    dest = Path(dest)
    if checksum_problem({"sha256": sha256, "md5": md5}, "checksum"):
        raise ValueError(f"{url}: a sha256 (64 hex digits; an md5 only where the publisher gives no sha256) "
                         f"is required to download it, got sha256={sha256!r}, md5={md5!r}")
    algorithm, expected = _expected_checksum({"sha256": sha256, "md5": md5}, url)
    if urllib.parse.urlparse(url).scheme not in ("http", "https", "file"):
        raise ValueError(f"{url}: only http, https and file URLs are allowed")
    if dest.is_file():
        if file_digest(dest, algorithm).hexdigest() == expected:
            log.info("%s: already present with the expected %s", dest, algorithm)
            return dest
        log.warning("%s: present but its %s differs; fetching it again", dest, algorithm)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    response = _open(url, offset, timeout)
    digest = file_digest(part, algorithm) if offset else hashlib.new(algorithm)
    if response is not None:
        with response:
            if offset and response.status != 206:
                log.info("%s: the server cannot resume; starting over", url)
                offset, digest = 0, hashlib.new(algorithm)
            elif offset:
                log.info("%s: resuming at byte %d from %s", url, offset, part)
            length = response.headers.get("Content-Length")
            remaining = int(length) if length else None
            received = 0
            with open(part, "ab" if offset else "wb") as out:
                try:
                    for block in progress(_chunks(response, CHUNK), desc=dest.name,
                                          total=math.ceil(remaining / CHUNK) if remaining else None, unit="MiB"):
                        digest.update(block)
                        out.write(block)
                        received += len(block)
                except OSError as err:
                    raise OSError(f"{url}: transfer broke after {offset + received} bytes ({err}); "
                                  f"{part} is kept and the next run resumes it") from err
            if remaining is not None and received < remaining:
                raise OSError(f"{url}: transfer ended after {offset + received} of {offset + remaining} bytes; "
                              f"{part} is kept and the next run resumes it")
    if digest.hexdigest() != expected:
        part.unlink()
        raise ValueError(f"{url}: {algorithm} mismatch: expected {expected}, got {digest.hexdigest()}; download deleted")
    os.replace(part, dest)
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
    """``data.download.<name>`` as {config key: {url, sha256 or md5}}: its own url and/or ``files``."""
    items = {f"data.download.{name}": cfg} if cfg.get("url") else {}
    for key, item in (cfg.get("files") or {}).items():
        items[f"data.download.{name}.files.{key}"] = item
    if not items:
        raise ValueError(f"data.download.{name}: no url and no files configured")
    return items


def download_dataset(name: str, cfg: Mapping[str, Any], out_dir: str | Path, partial_dir: str | Path | None = None) -> None:
    """Fetch data set ``name`` (config ``data.download.<name>``) into ``out_dir``: archives
    are unpacked there (and deleted), other files moved there under their URL's file name.

    Downloads land in ``partial_dir`` first (default ``out_dir/.download``): outside a rule's
    output folder, a broken transfer's ``.part`` file survives the failed job and is resumed."""
    if name not in EXPECTED:
        raise ValueError(f"data.download: unknown data set {name!r}; known: {sorted(EXPECTED)}")
    out_dir = Path(out_dir)
    partial_dir = Path(partial_dir) if partial_dir else out_dir / ".download"
    items = download_items(name, cfg)
    checksums = {}
    for where, item in items.items():
        if not item.get("url"):
            raise ValueError(f"{where}.url: not set")
        checksums[where] = _expected_checksum(item, where)  # every key checked before the first byte
    out_dir.mkdir(parents=True, exist_ok=True)
    for where, item in items.items():
        algorithm, expected = checksums[where]
        file_name = Path(urllib.parse.urlparse(item["url"]).path).name
        fetched = fetch(item["url"], partial_dir / file_name, **{algorithm: expected})
        if is_archive(file_name):
            n = unpack(fetched, out_dir)
            fetched.unlink()
            log.info("%s: unpacked %d files from %s into %s", where, n, file_name, out_dir)
        else:
            shutil.move(fetched, out_dir / file_name)
    if partial_dir.is_dir() and not any(partial_dir.iterdir()):
        partial_dir.rmdir()
    missing = [entry for entry in EXPECTED[name] if not (out_dir / entry).exists()]
    if missing:
        raise ValueError(f"{out_dir}: after download the {name} layout lacks {missing}; check data.download.{name}")
