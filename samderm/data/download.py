"""Fetch real data sets: checksum-verified, resumable downloads, atomic renames, safe unpacking.

``data.download.<name>`` is ``{url, sha256}`` or ``{files: {key: {url, sha256}}}`` (``md5`` only where
the publisher gives no sha256). An item may also give

* ``file``: the name to save the download as, where the URL's path does not end in it (Harvard
  Dataverse: ``.../api/access/datafile/4338392?format=original``); it decides whether the file is
  an archive.
* ``into``: a folder of the data set's folder to unpack (or move) the item into, for an archive
  whose files sit at its top (Dataverse's ``HAM10000_images_part_1.zip``). An archive that already
  holds ``into/`` at its top is not nested twice.

Archives are unpacked into a staging folder, then merged into the data set's folder:

* archives inside an archive are unpacked where they lie, then deleted (PAD-UFES-20's Mendeley
  zip ships ``images/imgs_part_1.zip`` ... ``imgs_part_3.zip``);
* an archive whose only top-level entry is a folder that is not part of the layout but holds
  part of it loses that folder from its paths (an extra top-level folder around the layout);
* ``__MACOSX/`` members (macOS resource forks, not data) are skipped, and counted in the log;
* nothing is overwritten: a path that two archives (or an earlier run) fill with other bytes is
  refused, naming it.

``EXPECTED[name]`` is what the data set's folder must then hold: a path, or a tuple of paths one
of which must exist. ``download_dataset(..., expected=...)`` replaces it for another use of the
same download: ``EXPECTED_LABELLED["isic2019_test"]`` for the labelled ISIC 2019 test set (an
external test source), where the unlabeled pool (``EXPECTED["isic2019_test"]``) needs only the
images.
"""

from __future__ import annotations

import filecmp
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
from typing import Any, Iterator, Mapping, Sequence

from samderm.data import isic
from samderm.data.sources import ham10000 as ham
from samderm.data.sources import isic2019_test as isic_test
from samderm.data.sources import pad_ufes20 as pad
from samderm.io import file_hash
from samderm.logs import progress

log = logging.getLogger(__name__)

CHUNK = 1 << 20
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
JUNK = "__MACOSX"  # the resource forks macOS adds to zips: not data, never unpacked
MAX_NESTING = 3  # archives inside archives inside archives
Entry = str | tuple[str, ...]  # a path that must exist, or paths one of which must
# what each data set must contain once unpacked (official layouts, as the readers in
# samderm.data.sources read them)
EXPECTED: dict[str, tuple[Entry, ...]] = {
    "isic2019": (isic.IMAGE_FOLDER, isic.GROUND_TRUTH, isic.METADATA),
    # the unlabeled pool: the test images only (EXPECTED_LABELLED for the labelled test set)
    "isic2019_test": (isic_test.IMAGE_FOLDER,),
    # HAM10000 (Dataverse) with the ISIC 2018 Task 3 validation and test sets (challenge or Dataverse files)
    "ham10000": (
        ham.METADATA_NAMES,
        *ham.IMAGE_FOLDERS,
        ham.VAL_IMAGES,
        ham.ground_truth_names(ham.VAL_GROUND_TRUTH),
        (ham.TEST_IMAGES, ham.TEST_IMAGES_DATAVERSE),
        ham.ground_truth_names(ham.TEST_GROUND_TRUTH),
    ),
    # metadata.csv and the images: images/imgs_part_{1,2,3}/ once the inner zips are unpacked
    "pad_ufes20": (pad.METADATA, pad.IMAGE_FOLDERS),
    "places365": ("val_256", "places365_val.txt", "categories_places365.txt"),
    "dtd": ("dtd/images",),
}
# another use of the same download that needs more of it: download_dataset(..., expected=...)
EXPECTED_LABELLED: dict[str, tuple[Entry, ...]] = {
    # the ISIC 2019 test set as an external labelled test source (read_isic2019_test)
    "isic2019_test": (isic_test.IMAGE_FOLDER, isic_test.GROUND_TRUTH, isic_test.METADATA),
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
        if file_hash(dest, algorithm).hexdigest() == expected:
            log.info("%s: already present with the expected %s", dest, algorithm)
            return dest
        log.warning("%s: present but its %s differs; fetching it again", dest, algorithm)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    response = _open(url, offset, timeout)
    digest = file_hash(part, algorithm) if offset else hashlib.new(algorithm)
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


def _junk(name: str) -> bool:
    return JUNK in Path(name).parts


def _log_junk(archive: Path, n: int) -> None:
    if n:
        log.info("%s: skipped %d %s/ member(s) (macOS resource forks, not data)", archive.name, n, JUNK)


def unpack(archive: str | Path, dest_dir: str | Path) -> int:
    """Extract a zip or tar into ``dest_dir``, refusing members that would land outside it;
    ``__MACOSX/`` members are skipped (logged). Returns the number of files extracted."""
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    root = dest_dir.resolve()
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if not (root / name).resolve().is_relative_to(root):
                    raise ValueError(f"{archive}: member {name!r} would be written outside {dest_dir}")
            members = [info for info in zf.infolist() if not _junk(info.filename)]
            _log_junk(archive, len(zf.infolist()) - len(members))
            zf.extractall(dest_dir, members=members)
            return sum(1 for info in members if not info.is_dir())
    with tarfile.open(archive) as tf:
        members = [m for m in tf.getmembers() if not _junk(m.name)]
        _log_junk(archive, len(tf.getmembers()) - len(members))
        try:
            tf.extractall(dest_dir, members=members, filter="data")  # refuses absolute paths, '..' and links out
        except tarfile.FilterError as err:
            raise ValueError(f"{archive}: unsafe member: {err}") from None
        return sum(1 for member in members if member.isfile())


def _merge(src: Path, dst: Path) -> None:
    """Move everything under ``src`` into ``dst``, folders merged; a file already in ``dst`` is
    kept only if it has the same bytes, other content is refused (nothing is overwritten)."""
    dst.mkdir(parents=True, exist_ok=True)
    for child in sorted(src.iterdir()):
        target = dst / child.name
        if child.is_dir() and not child.is_symlink():
            if target.is_dir() and not target.is_symlink():
                _merge(child, target)
                child.rmdir()
            elif target.exists() or target.is_symlink():
                raise ValueError(f"{target}: a file is there, where the download's folder {child.name}/ must go")
            else:
                os.replace(child, target)
        elif target.exists() or target.is_symlink():
            if target.is_file() and child.is_file() and filecmp.cmp(child, target, shallow=False):
                child.unlink()  # the same bytes: nothing is lost
            else:
                raise ValueError(f"{target}: already there with other content than the download's {child.name}; "
                                 "refusing to overwrite it (two archives ship this path, or an earlier run left it)")
        else:
            os.replace(child, target)


def _unpack_nested(folder: Path, archive: str) -> None:
    """Unpack every archive under ``folder`` where it lies (into its own folder), then delete it."""
    for _ in range(MAX_NESTING):
        inner = sorted(p for p in folder.rglob("*") if p.is_file() and is_archive(p.name))
        if not inner:
            return
        for path in inner:
            staging = path.with_name(f".unpacking-{path.name}")
            shutil.rmtree(staging, ignore_errors=True)
            n = unpack(path, staging)
            path.unlink()
            _merge(staging, path.parent)
            staging.rmdir()
            log.info("%s: unpacked %d files from the inner archive %s", archive, n, path.relative_to(folder))
    if any(p.is_file() and is_archive(p.name) for p in folder.rglob("*")):
        raise ValueError(f"{archive}: archives nested more than {MAX_NESTING} deep")


def _options(entry: Entry) -> tuple[str, ...]:
    return (entry,) if isinstance(entry, str) else tuple(entry)


def _install(archive: Path, out_dir: Path, into: str | None, top_names: set[str]) -> int:
    """Unpack ``archive`` and the archives in it into ``out_dir`` (``out_dir/into`` with ``into``)
    through a staging folder; returns the number of files it brought.

    ``top_names``: the top-level names of the layout; an archive whose only top-level entry is a
    folder not among them, holding some of them, is unpacked without that folder."""
    staging = out_dir / f".unpacking-{archive.name}"
    shutil.rmtree(staging, ignore_errors=True)  # left by a broken run
    try:
        unpack(archive, staging)
        _unpack_nested(staging, archive.name)
        children = list(staging.iterdir())
        single = children[0] if len(children) == 1 and children[0].is_dir() else None
        root, target = staging, (out_dir / into if into else out_dir)
        if into and single is not None and single.name == Path(into).name:
            root = single  # the archive already holds into/ at its top
        elif not into and single is not None and single.name not in top_names \
                and any(child.name in top_names for child in single.iterdir()):
            log.info("%s: its only top-level folder %s/ holds the layout; its contents go to %s",
                     archive.name, single.name, out_dir)
            root = single
        n = sum(1 for p in root.rglob("*") if p.is_file())
        _merge(root, target)
        return n
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_items(name: str, cfg: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``data.download.<name>`` as {config key: {url, sha256 or md5[, file, into]}}: its own url and/or ``files``."""
    items = {f"data.download.{name}": cfg} if cfg.get("url") else {}
    for key, item in (cfg.get("files") or {}).items():
        items[f"data.download.{name}.files.{key}"] = item
    if not items:
        raise ValueError(f"data.download.{name}: no url and no files configured")
    return items


def _download_name(item: Mapping[str, Any], where: str) -> str:
    """The name an item is saved as: its ``file``, else the last part of its URL's path."""
    name = item.get("file") or Path(urllib.parse.urlparse(item["url"]).path).name
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise ValueError(f"{where}.file: {name!r} is not a file name; give the name to save the download as "
                         "(e.g. HAM10000_metadata.csv) where the URL does not end in one")
    return name


def _into(item: Mapping[str, Any], where: str) -> str | None:
    into = item.get("into")
    if into is None:
        return None
    if not isinstance(into, str) or not into.strip("/") or Path(into).is_absolute() or ".." in Path(into).parts:
        raise ValueError(f"{where}.into: {into!r} is not a folder inside the data set's folder")
    return into


def download_dataset(name: str, cfg: Mapping[str, Any], out_dir: str | Path, partial_dir: str | Path | None = None,
                     expected: Sequence[Entry] | None = None) -> None:
    """Fetch data set ``name`` (config ``data.download.<name>``) into ``out_dir``: archives
    are unpacked there (and deleted), other files moved there under their ``file`` name, else
    their URL's file name (into ``out_dir/<into>`` for an item with ``into``).

    Downloads land in ``partial_dir`` first (default ``out_dir/.download``): outside a rule's
    output folder, a broken transfer's ``.part`` file survives the failed job and is resumed.
    ``expected``: what ``out_dir`` must then hold, default ``EXPECTED[name]`` (the ISIC 2019
    test set as a labelled source: ``EXPECTED_LABELLED["isic2019_test"]``). A download or layout
    problem is raised naming the config key."""
    if name not in EXPECTED:
        raise ValueError(f"data.download: unknown data set {name!r}; known: {sorted(EXPECTED)}")
    expected = EXPECTED[name] if expected is None else tuple(expected)
    out_dir = Path(out_dir)
    partial_dir = Path(partial_dir) if partial_dir else out_dir / ".download"
    items = download_items(name, cfg)
    checksums, names, intos = {}, {}, {}
    for where, item in items.items():  # every key checked before the first byte
        if not item.get("url"):
            raise ValueError(f"{where}.url: not set")
        checksums[where] = _expected_checksum(item, where)
        names[where], intos[where] = _download_name(item, where), _into(item, where)
    for file_name in set(names.values()):
        keys = [where for where, n in names.items() if n == file_name]
        if len(keys) > 1:
            raise ValueError(f"{keys[1]}: saved as {file_name!r} like {keys[0]}; give one of them another name (file)")
    out_dir.mkdir(parents=True, exist_ok=True)
    top_names = {Path(option).parts[0] for entry in expected for option in _options(entry)}
    for where, item in items.items():
        algorithm, checksum = checksums[where]
        file_name, into = names[where], intos[where]
        try:
            fetched = fetch(item["url"], partial_dir / file_name, **{algorithm: checksum})
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from err
        except OSError as err:
            raise OSError(f"{where}: {err}") from err
        target = out_dir / into if into else out_dir
        if is_archive(file_name):
            n = _install(fetched, out_dir, into, top_names)
            fetched.unlink()
            log.info("%s: unpacked %d files from %s into %s", where, n, file_name, target)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.move(fetched, target / file_name)
    if partial_dir.is_dir() and not any(partial_dir.iterdir()):
        partial_dir.rmdir()
    missing = [" or ".join(_options(entry)) for entry in expected
               if not any((out_dir / option).exists() for option in _options(entry))]
    if missing:
        there = sorted(p.name for p in out_dir.iterdir() if p.resolve() != partial_dir.resolve())
        raise ValueError(f"{out_dir}: after download the {name} layout lacks {missing}; check data.download.{name} "
                         f"(the folder holds {there})")
