"""PAD-UFES-20 as released on Mendeley Data (doi:10.17632/zr7vgbcyr2.1; Pacheco et al., Data in Brief
2020): ``metadata.csv`` (one row per image) and the PNG images, shipped as ``imgs_part_1.zip`` …
``imgs_part_3.zip`` inside ``images/``. Unpacked, the images sit under ``images/`` (often as
``images/imgs_part_1/imgs_part_1/*.png``) or under ``imgs_part_1/`` … ``imgs_part_3/`` next to the
CSV; every one of those folders is searched, recursively. ``img_id`` is the file name
(``PAT_46_881_14.png``: patient, lesion, a number)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from samderm.data.folders import scan_images
from samderm.data.sources.tables import assemble, meta_name, read_csv

DATASET = "pad_ufes20"
METADATA = "metadata.csv"
IMAGE_FOLDERS = ("images", "imgs_part_1", "imgs_part_2", "imgs_part_3")
# the official header, in order
METADATA_COLUMNS = (
    "patient_id", "lesion_id", "smoke", "drink", "background_father", "background_mother", "age",
    "pesticide", "gender", "skin_cancer_history", "cancer_history", "has_piped_water",
    "has_sewage_system", "fitspatrick", "region", "diameter_1", "diameter_2", "diagnostic", "itch",
    "grew", "hurt", "changed", "bleed", "elevation", "img_id", "biopsed",
)
# the release files Bowen's disease (BOD, SCC in situ) within SCC; a metadata file that lists BOD apart is read too
DIAGNOSTICS = ("ACK", "BCC", "MEL", "NEV", "SCC", "SEK", "BOD")
# columns that become SOURCE_COLUMNS; every other one is kept as meta_<column>
_USED = ("patient_id", "lesion_id", "diagnostic", "img_id")


def layout(root: str | Path) -> dict[str, Path | list[Path]]:
    """``metadata``: the CSV; ``image_dirs``: those of ``images/``, ``imgs_part_{1,2,3}/`` that exist."""
    root = Path(root)
    return {"metadata": root / METADATA,
            "image_dirs": [root / f for f in IMAGE_FOLDERS if (root / f).is_dir()]}


def _image_files(root: Path, folders: list[Path]) -> dict[str, Path]:
    """File name -> file, over every image folder; one name in two places raises naming both."""
    if not folders:
        raise FileNotFoundError(f"{root}: no image folder; expected one or more of {list(IMAGE_FOLDERS)} (the PAD-UFES-20 layout)")
    by_name: dict[str, Path] = {}
    seen: set[Path] = set()
    for folder in folders:
        for path in scan_images(folder)[0]:
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            if path.name in by_name:
                raise ValueError(f"{root}: image file {path.name!r} is in two places: {by_name[path.name]} and {path}")
            by_name[path.name] = path
    return by_name


def read_pad_ufes20(root: str | Path) -> pd.DataFrame:
    """Every image of the release: ``SOURCE_COLUMNS`` then ``meta_<column>`` for every other column
    of ``metadata.csv`` (strings, "" for missing), rows in CSV order then unlisted files by path.

    ``image_id`` = ``img_id``; ``original_label`` = ``diagnostic``; ``lesion_id`` =
    ``pad_{lesion_id}`` (``solo_{image_id}`` when empty, and for a file no row lists);
    ``patient_id`` as written; ``official_split`` "" (the authors published none).
    Refuses, naming file and row: a missing column, a column twice, a row with the wrong number
    of fields, an empty or repeated ``img_id``, a ``diagnostic`` outside ACK, BCC, MEL, NEV, SCC,
    SEK (the CSV rules are ``samderm.data.sources.tables.read_csv``'s).
    """
    root = Path(root)
    files = layout(root)
    csv_path = files["metadata"]
    table = read_csv(csv_path, METADATA_COLUMNS, "PAD-UFES-20", id_column="img_id")
    by_name = _image_files(root, files["image_dirs"])
    by_stem: dict[str, list[Path]] = {}
    for path in by_name.values():
        by_stem.setdefault(path.stem, []).append(path)
    meta = [(c, meta_name(c, i)) for i, c in enumerate(table.columns) if c not in _USED]

    listed: list[dict[str, str]] = []
    claimed: set[Path] = set()
    for row_number, record in zip(table.index, table.to_dict("records")):
        where = f"{csv_path} row {row_number}"
        image = record["img_id"]
        diagnostic = record["diagnostic"]
        if diagnostic not in DIAGNOSTICS:
            raise ValueError(f"{where}: img_id {image!r} has diagnostic {diagnostic!r}, not one of {list(DIAGNOSTICS)}")
        path = by_name.get(image)
        if path is None and len(by_stem.get(image, [])) == 1:  # an img_id written without ".png"
            path = by_stem[image][0]
        if path is not None and path in claimed:
            raise ValueError(f"{where}: img_id {image!r} names the file {path}, which another row already names")
        if path is not None:
            claimed.add(path)
        lesion = record["lesion_id"]
        listed.append({
            "image_id": image,
            "path": str(path) if path is not None else "",
            "original_label": diagnostic,
            "lesion_id": f"pad_{lesion}" if lesion else "",  # "" -> solo_{image_id}
            "patient_id": record["patient_id"],
            "where": where,
            **{m: record[c] for c, m in meta},
        })

    unlisted = [{"image_id": path.name, "path": str(path), "where": f"file {path}"}
                for path in sorted(by_name.values()) if path not in claimed]
    return assemble(listed + unlisted, DATASET, [m for _, m in meta])
