"""Not-skin and OOD images drawn from public sets (Places365 val, DTD) by category, seeded.

Each selected image is copied to ``{out_dir}/{category}/{file}.jpg``: the category is the first
folder level (a Places365 scene class such as ``airfield`` or ``bazaar_indoor``, or a DTD
texture class such as ``banded``), which the manifest reads as the image's category."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

from samderm.data.hashing import seeded_order, stable_seed

log = logging.getLogger(__name__)

DATASETS = ("places365", "dtd")
ALL = "all"


def category_name(name: str) -> str:
    """Places365's ``/b/bazaar/indoor`` (or ``bazaar/indoor``) as the folder name ``bazaar_indoor``."""
    parts = [p for p in name.strip().split("/") if p]
    if len(parts) > 1 and len(parts[0]) == 1:  # the initial-letter folder of categories_places365.txt
        parts = parts[1:]
    return "_".join(parts)


def places365_categories(root: str | Path) -> dict[str, list[Path]]:
    """{category: image paths} of the Places365-Standard validation set in its official layout:
    flat ``val_256/Places365_val_*.jpg``, labelled by ``places365_val.txt`` (file, class index)
    with class names in ``categories_places365.txt`` (``/a/airfield 0``)."""
    root = Path(root)
    names: dict[int, str] = {}
    for line in (root / "categories_places365.txt").read_text().split("\n"):
        if line.strip():
            name, index = line.split()
            names[int(index)] = category_name(name)
    images: dict[str, list[Path]] = {name: [] for name in names.values()}
    for number, line in enumerate((root / "places365_val.txt").read_text().split("\n"), start=1):
        if not line.strip():
            continue
        file, index = line.split()
        if int(index) not in names:
            raise ValueError(f"{root / 'places365_val.txt'}, line {number}: class index {index} "
                             f"is not in categories_places365.txt")
        images[names[int(index)]].append(root / "val_256" / file.lstrip("/"))
    return images


def dtd_categories(root: str | Path) -> dict[str, list[Path]]:
    """{category: image paths} of the Describable Textures Dataset: ``dtd/images/{texture}/*.jpg``."""
    folder = Path(root) / "dtd" / "images"
    return {d.name: sorted(p for p in d.glob("*.jpg") if not p.name.startswith("."))
            for d in sorted(folder.iterdir()) if d.is_dir()}


CATEGORIES = {"places365": places365_categories, "dtd": dtd_categories}


def chosen_categories(dataset: str, wanted: Any, taken_elsewhere: Any, available: list[str], key: str) -> list[str]:
    """The categories ``key`` names: a list, or ``all`` = every category the other set does not list."""
    if wanted == ALL:
        excluded = set() if taken_elsewhere in (None, ALL) else {category_name(c) for c in taken_elsewhere}
        return [c for c in available if c not in excluded]
    chosen = [category_name(c) for c in wanted]
    unknown = [c for c in chosen if c not in available]
    if unknown:
        raise ValueError(f"{key}: unknown {dataset} categories {unknown} (e.g. {', '.join(available[:5])})")
    return chosen


def select_images(sets: Mapping[str, Mapping[str, Any]], other_sets: Mapping[str, Mapping[str, Any]],
                  raw_dirs: Mapping[str, str | Path], out_dir: str | Path, seed: int, key: str) -> dict[str, int]:
    """Copy ``limit`` images per category (seeded draw) of each set in ``sets`` into
    ``out_dir/{category}/``; ``other_sets`` is the other use of the same data sets (not-skin vs
    OOD), whose explicitly listed categories ``all`` leaves out. Returns {category: count}."""
    out_dir = Path(out_dir)
    counts: dict[str, int] = {}
    for dataset, cfg in sets.items():
        before = set(counts)
        available = CATEGORIES[dataset](raw_dirs[dataset])
        other = (other_sets.get(dataset) or {}).get("categories")
        for category in chosen_categories(dataset, cfg["categories"], other, sorted(available), f"{key}.{dataset}.categories"):
            if category in counts:
                raise ValueError(f"{key}.{dataset}: category '{category}' comes from two data sets")
            files = {p.name: p for p in available[category]}
            order = seeded_order(files, stable_seed(seed, dataset, category))
            chosen = order if cfg.get("limit") is None else order[: cfg["limit"]]
            target = out_dir / category
            target.mkdir(parents=True, exist_ok=True)
            for name in chosen:
                _link_or_copy(files[name], target / name)
            counts[category] = len(chosen)
        drawn = set(counts) - before
        log.info("%s.%s: %d images from %d categories into %s", key, dataset,
                 sum(counts[c] for c in drawn), len(drawn), out_dir)
    return counts


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)  # same file system: no second copy on disk
    except OSError:
        shutil.copy2(src, dest)
