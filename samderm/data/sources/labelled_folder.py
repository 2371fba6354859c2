"""Any folder of images plus a CSV of labels, named in the config (DDI is the worked example).

The CSV's columns are named by ``columns``: ``image`` (an image id or a path relative to the
image folder) and ``label`` are required; ``lesion_id``, ``patient_id`` and ``split`` are optional.
Every other CSV column is kept as ``meta_<column>``. Example, the DDI release
(``ddi_metadata.csv``: ``DDI_ID, DDI_file, skin_tone, malignant, disease``; images ``000001.png``…)::

    read_labelled_folder("ddi", "DDI/images", "DDI/ddi_metadata.csv",
                         {"image": "DDI_file", "label": "disease"})

The CSV is read by ``samderm.data.sources.tables.read_csv`` (comma or tab separated): refused,
naming file and row, are a column twice, a named column missing, a row with the wrong number of
fields, an empty or repeated image id; then an empty label, a split other than train/val/test/"",
and two rows naming one file.

Every listed image and every image file appears exactly once: a row whose file is missing keeps
``path`` ""; a file no row lists is returned with ``original_label`` "".
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Mapping

import pandas as pd

from samderm.data.folders import scan_images
from samderm.data.sources.tables import assemble, meta_name, read_csv

REQUIRED_KEYS = ("image", "label")
OPTIONAL_KEYS = ("lesion_id", "patient_id", "split")
SPLITS = ("train", "val", "test")


def _image_index(images_dir: Path) -> tuple[list[Path], dict[str, list[Path]], dict[str, list[Path]]]:
    """(image files, exact key -> files, suffix-less key -> files): exact keys are the relative
    path and the file name; suffix-less keys are the relative path and the name without suffix."""
    files, _ = scan_images(images_dir)
    exact: dict[str, list[Path]] = {}
    loose: dict[str, list[Path]] = {}
    for p in files:
        rel = p.relative_to(images_dir)
        for key in {rel.as_posix(), p.name}:
            exact.setdefault(key, []).append(p)
        for key in {rel.with_suffix("").as_posix(), p.stem}:
            loose.setdefault(key, []).append(p)
    return files, exact, loose


def resolve_image(image: str, exact: dict[str, list[Path]], loose: dict[str, list[Path]],
                  where: str) -> Path | None:
    """The one file an image id names, by relative path or file name first, then by either without
    its suffix (any image extension); None when no file matches. Two matching files raise."""
    key = image.replace("\\", "/")
    for table in (exact, loose):
        found = table.get(key, [])
        if len(found) > 1:
            names = ", ".join(str(p) for p in sorted(found))
            raise ValueError(f"{where}: image {image!r} is ambiguous: it matches {len(found)} files ({names})")
        if found:
            return found[0]
    return None


def read_labelled_folder(name: str, images_dir: str | Path, labels_csv: str | Path,
                         columns: Mapping[str, str]) -> pd.DataFrame:
    """The folder's images as ``SOURCE_COLUMNS`` then ``meta_<column>`` for every other CSV column.

    ``dataset`` is ``name``; ``image_id`` is the CSV's image value as written (a file no row lists:
    its path relative to ``images_dir``); ``lesion_id``/``patient_id`` are ``{name}_{value}`` so that
    they cannot collide with other datasets' groups (no lesion: ``solo_{name}_{image_id}``; no
    patient: ""); ``official_split`` is the ``split`` column (train, val, test or "").
    ``lesion_class``/``mapping`` are left "" for ``taxonomy.apply_mapping``.
    """
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"labelled folder: name must be a non-empty string without surrounding spaces, got {name!r}")
    unknown = [k for k in columns if k not in REQUIRED_KEYS + OPTIONAL_KEYS]
    if unknown:
        raise ValueError(f"labelled folder {name!r}: unknown key(s) {unknown} in columns; "
                         f"known keys are {list(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    absent = [k for k in REQUIRED_KEYS if not columns.get(k)]
    if absent:
        raise ValueError(f"labelled folder {name!r}: columns must name the CSV column for {absent}")
    named = {k: v for k, v in columns.items() if v}
    twice = sorted(v for v, n in Counter(named.values()).items() if n > 1)
    if twice:
        raise ValueError(f"labelled folder {name!r}: CSV column(s) {twice} named for more than one key in columns {dict(named)}")

    images_dir, labels_csv = Path(images_dir), Path(labels_csv)
    table = read_csv(labels_csv, list(named.values()), f"labelled folder {name!r}", id_column=named["image"])
    meta = [(c, meta_name(c, i)) for i, c in enumerate(table.columns) if c not in named.values()]
    files, exact, loose = _image_index(images_dir)

    listed: list[dict[str, str]] = []
    row_of_image: dict[str, int] = {}
    row_of_file: dict[Path, tuple[int, str]] = {}
    for row_number, record in zip(table.index, table.to_dict("records")):
        where = f"{labels_csv} row {row_number}"
        image = record[named["image"]]
        row_of_image[image] = row_number
        label = record[named["label"]]
        if not label:
            raise ValueError(f"{where}: image {image!r} has an empty label in column {named['label']!r}")
        split = record[named["split"]] if "split" in named else ""
        if split not in SPLITS + ("",):
            raise ValueError(f"{where}: split {split!r} in column {named['split']!r} is not one of {list(SPLITS)} or empty")
        path = resolve_image(image, exact, loose, where)
        if path is not None:
            if path in row_of_file:
                other_row, other = row_of_file[path]
                raise ValueError(f"{labels_csv}: rows {other_row} ({other!r}) and {row_number} ({image!r}) name the same file {path}")
            row_of_file[path] = (row_number, image)
        lesion = record[named["lesion_id"]] if "lesion_id" in named else ""
        patient = record[named["patient_id"]] if "patient_id" in named else ""
        listed.append({
            "image_id": image,
            "path": str(path) if path is not None else "",
            "original_label": label,
            "lesion_id": f"{name}_{lesion}" if lesion else f"solo_{name}_{image}",
            "patient_id": f"{name}_{patient}" if patient else "",
            "official_split": split,
            "where": where,
            **{m: record[c] for c, m in meta},
        })

    unlisted = []
    for path in files:
        if path in row_of_file:
            continue
        image = path.relative_to(images_dir).as_posix()
        if image in row_of_image:  # a listed id that named another file
            raise ValueError(f"{labels_csv} row {row_of_image[image]}: image {image!r} also names the unlisted file {path}")
        unlisted.append({"image_id": image, "path": str(path), "lesion_id": f"solo_{name}_{image}",
                         "where": f"file {path}"})
    return assemble(listed + unlisted, name, [m for _, m in meta])

