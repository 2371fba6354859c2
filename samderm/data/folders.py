"""Image files in folders: which files are images, their ids, and content hashes."""

from __future__ import annotations

from pathlib import Path

from samderm.io import sha256_file

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}


def scan_images(folder: str | Path) -> tuple[list[Path], list[Path]]:
    """All files under ``folder`` (recursive, sorted): (image files, other files).

    Hidden files are skipped; an image file is one with an image suffix, whatever
    its content (a text file named .jpg is an image file that will fail to decode).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    return images, others


def folder_image_id(source: str, folder: str | Path, path: Path) -> str:
    """``{source}__{relative path without suffix}`` with ``/`` as ``__``: unique across sources."""
    rel = path.relative_to(folder).with_suffix("")
    return f"{source}__" + "__".join(rel.parts)


def check_disjoint(not_skin_dir: str | Path, not_skin: list[Path], ood_dir: str | Path, ood: list[Path],
                   kinds: tuple[str, str] = ("not-skin", "OOD"),
                   rule: str = "an OOD test image must never be a training image") -> None:
    """Refuse a file that is both a not-skin (training) and an OOD (test) image (or, with
    ``kinds`` and ``rule``, in any two folders that must stay apart): the same path, or the
    same bytes under another name."""
    clashes: list[str] = []
    ns_paths = {p.resolve(): p for p in not_skin}
    for p in ood:
        if p.resolve() in ns_paths:
            clashes.append(f"{p} is in both folders")
    ns_hashes: dict[str, Path] = {}
    for p in not_skin:
        ns_hashes.setdefault(sha256_file(p), p)
    for p in ood:
        twin = ns_hashes.get(sha256_file(p))
        if twin is not None and twin.resolve() != p.resolve():
            clashes.append(f"{p} has the same content as {twin}")
    if clashes:
        listing = "\n  ".join(clashes)
        raise ValueError(
            f"the {kinds[0]} folder {not_skin_dir} and the {kinds[1]} folder {ood_dir} share "
            f"{len(clashes)} image(s); {rule}:\n  {listing}"
        )
