"""HAM10000 (Tschandl et al. 2018, Harvard Dataverse doi:10.7910/DVN/DBW86T) with the official
ISIC 2018 Task 3 validation and test sets, in their published layouts under one folder:

    HAM10000_metadata.csv                      lesion_id,image_id,dx,dx_type,age,sex,localization[,dataset]
                                               (Dataverse serves it as ``HAM10000_metadata``, no extension;
                                               read when the .csv is absent, comma or tab separated)
    HAM10000_images_part_1/  HAM10000_images_part_2/        {image_id}.jpg  -> official_split "train"
    ISIC2018_Task3_Validation_Input/           {image}.jpg                   -> "val"
    ISIC2018_Task3_Validation_GroundTruth.csv  one-hot: image,MEL,NV,BCC,AKIEC,BKL,DF,VASC
    ISIC2018_Task3_Test_Input/                 {image}.jpg (challenge site; the Dataverse zip unpacks to
                                               ISIC2018_Task3_Test_Images/, read when Test_Input is absent)
    ISIC2018_Task3_Test_GroundTruth.csv        -> "test"; either the challenge's one-hot file or the
                                               Dataverse file "in the same format as the HAM10000 data"
                                               (lesion_id,image_id,dx,...): told apart by its header

The validation and test parts are optional: a split whose ground truth and image folder are both
absent is left out. A ground-truth file with no image folder gives rows with ``path`` "" (counted).

Unlisted files and unshipped images: every id listed in a CSV and every ``.jpg`` in an image folder
appears exactly once. A listed image whose file is missing keeps ``path`` ""; a file no CSV lists is
returned with ``original_label`` "" (and ``lesion_id`` ``solo_{image_id}``, the folder's split) rather
than refused, so one stray file does not block a dataset and is not silently lost: the manifest
counts and reports both. Malformed input is refused with the file and row named: a missing file or
column, an id listed twice (in one file, across files, or as two image files), a one-hot row without
exactly one 1, an unknown ``dx``.

``original_label`` is HAM's ``dx`` vocabulary for all three splits (one-hot ``AKIEC`` -> ``akiec``);
``lesion_class`` and ``mapping`` stay "" for the taxonomy step.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Iterable

import pandas as pd

from samderm.data.isic import ONE, ZERO
from samderm.data.sources import SOURCE_COLUMNS

NAME = "ham10000"
METADATA = "HAM10000_metadata.csv"
METADATA_DATAVERSE = "HAM10000_metadata"
IMAGE_FOLDERS = ("HAM10000_images_part_1", "HAM10000_images_part_2")
VAL_GROUND_TRUTH = "ISIC2018_Task3_Validation_GroundTruth.csv"
VAL_IMAGES = "ISIC2018_Task3_Validation_Input"
TEST_GROUND_TRUTH = "ISIC2018_Task3_Test_GroundTruth.csv"
TEST_IMAGES = "ISIC2018_Task3_Test_Input"
TEST_IMAGES_DATAVERSE = "ISIC2018_Task3_Test_Images"

DX = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
METADATA_COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
ONE_HOT_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
# optional columns of the challenges' ground-truth files (read by isic-challenge-scoring); kept as meta_
WEIGHT_COLUMNS = ("score_weight", "validation_weight")


def layout(root: str | Path) -> dict[str, Path]:
    """The HAM10000 / ISIC 2018 Task 3 files under one folder."""
    root = Path(root)
    return {
        "metadata": root / METADATA,
        "images_part_1": root / IMAGE_FOLDERS[0],
        "images_part_2": root / IMAGE_FOLDERS[1],
        "val_ground_truth": root / VAL_GROUND_TRUTH,
        "val_images": root / VAL_IMAGES,
        "test_ground_truth": root / TEST_GROUND_TRUTH,
        "test_images": root / TEST_IMAGES,
    }


# --- strict CSV reading, shared with isic2019_test --------------------------------------------------


def read_table(path: Path, required: Iterable[str], id_column: str, what: str) -> pd.DataFrame:
    """The CSV as strings ("" for missing), header checked, ids stripped, non-empty and unique.
    ``what`` names the layout in the not-found message. Comma or tab separated (Dataverse)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (expected in the {what} layout)")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
    sep = "\t" if "\t" in first and "," not in first else ","
    header = [h.strip() for h in next(csv.reader([first], delimiter=sep), [])]
    twice = sorted(c for c, n in Counter(header).items() if n > 1)
    if twice:
        raise ValueError(f"{path}: column(s) {twice} appear more than once in the header")
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; header is {header}")
    table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    table.columns = header
    table = table.apply(lambda col: col.str.strip())
    empty = table.index[table[id_column] == ""].tolist()
    if empty:
        raise ValueError(f"{path}: row(s) {[i + 2 for i in empty]} have an empty {id_column}")
    rows: dict[str, list[int]] = {}
    for i, image in enumerate(table[id_column]):
        rows.setdefault(image, []).append(i + 2)
    twice = {image: r for image, r in rows.items() if len(r) > 1}
    if twice:
        image, r = next(iter(twice.items()))
        raise ValueError(f"{path}: image id {image} listed {len(r)} times (rows {r})"
                         + (f"; {len(twice) - 1} more id(s) listed twice" if len(twice) > 1 else ""))
    return table


def one_hot_labels(path: Path, table: pd.DataFrame, classes: tuple[str, ...]) -> list[str]:
    """Per row, the class column holding the 1; refuses a value other than 0/1 or not exactly one 1."""
    labels = []
    for i, row in enumerate(table[list(classes)].itertuples(index=False)):
        values = dict(zip(classes, row))
        odd = {c: v for c, v in values.items() if v not in ONE | ZERO}
        if odd:
            raise ValueError(f"{path} row {i + 2}: not a 0/1 value in {odd}")
        hot = [c for c, v in values.items() if v in ONE]
        if len(hot) != 1:
            what = "no class" if not hot else f"{len(hot)} classes {hot}"
            raise ValueError(f"{path} row {i + 2}: {what} (one-hot label expected)")
        labels.append(hot[0])
    return labels


def image_files(folder: Path) -> dict[str, Path]:
    """image id -> ``.jpg`` file directly in ``folder`` ({} when it does not exist); the challenge
    zips also hold ATTRIBUTION.txt and LICENSE.txt, which are not images."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() == ".jpg" and not p.name.startswith(".")}


def assemble(entries: list[dict], dataset: str) -> pd.DataFrame:
    """``entries``: per image, the SOURCE_COLUMNS it knows plus ``meta`` (column -> value) and
    ``where`` (file and row, for the duplicate message). One row per image, SOURCE_COLUMNS first."""
    seen: dict[str, str] = {}
    meta_columns: list[str] = []
    for entry in entries:
        if entry["image_id"] in seen:
            raise ValueError(f"image id {entry['image_id']} appears twice: {seen[entry['image_id']]} "
                             f"and {entry['where']}")
        seen[entry["image_id"]] = entry["where"]
        meta_columns += [c for c in entry["meta"] if c not in meta_columns]
    rows = []
    for entry in entries:
        row = {c: "" for c in SOURCE_COLUMNS}
        row.update({k: v for k, v in entry.items() if k in SOURCE_COLUMNS})
        row["dataset"] = dataset
        row["lesion_id"] = row["lesion_id"] or f"solo_{row['image_id']}"
        row.update({f"meta_{c}": entry["meta"].get(c, "") for c in meta_columns})
        rows.append(row)
    columns = list(SOURCE_COLUMNS) + [f"meta_{c}" for c in meta_columns]
    return pd.DataFrame(rows, columns=columns, dtype=object).fillna("")


def labelled_entries(path: Path, table: pd.DataFrame, id_column: str, labels: list[str],
                     lesion_ids: list[str], meta_columns: list[str], files: dict[str, Path],
                     split: str) -> list[dict]:
    """One entry per CSV row, then one per file of ``files`` no row lists (``original_label`` "")."""
    entries = []
    for i, (image, label, lesion) in enumerate(zip(table[id_column], labels, lesion_ids)):
        file = files.get(image)
        entries.append({"image_id": image, "path": str(file) if file else "", "original_label": label,
                        "lesion_id": lesion, "official_split": split, "where": f"{path} row {i + 2}",
                        "meta": {c: table.at[i, c] for c in meta_columns}})
    listed = set(table[id_column])
    for image, file in files.items():
        if image not in listed:
            entries.append({"image_id": image, "path": str(file), "original_label": "", "lesion_id": "",
                            "official_split": split, "where": f"file {file}", "meta": {}})
    return entries


# --- HAM10000 ----------------------------------------------------------------------------------------


def _ham_format(path: Path, table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(dx labels, lesion ids) of a table in the HAM10000_metadata format; refuses an unknown dx."""
    for i, dx in enumerate(table["dx"]):
        if dx not in DX:
            raise ValueError(f"{path} row {i + 2}: unknown dx {dx!r}; HAM10000 classes are {list(DX)}")
    return table["dx"].tolist(), table["lesion_id"].tolist()


def _split_files(root: Path, folders: tuple[str, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder in folders:
        for image, file in image_files(root / folder).items():
            if image in files:
                raise ValueError(f"image id {image} appears twice: file {files[image]} and file {file}")
            files[image] = file
    return files


def _challenge_split(root: Path, gt_name: str, folders: tuple[str, ...], split: str) -> list[dict]:
    """The ISIC 2018 Task 3 validation or test set: one-hot ground truth, or (Dataverse test file)
    the HAM10000_metadata format; [] when neither the file nor an image folder is there. Images
    come from the first of ``folders`` that exists."""
    gt = root / gt_name
    present = [root / f for f in folders if (root / f).is_dir()]
    if not gt.is_file() and not present:
        return []
    files = image_files(present[0]) if present else {}  # the first of the folder names found
    what = "ISIC 2018 Task 3"
    if not gt.is_file():
        raise FileNotFoundError(f"{gt}: file not found, but the {split} images {present[0]} are there "
                                f"(expected in the {what} layout)")
    with open(gt, newline="", encoding="utf-8-sig") as fh:
        header = [h.strip() for h in fh.readline().replace("\t", ",").split(",")]
    if "image_id" in header and "image" not in header:
        table = read_table(gt, METADATA_COLUMNS, "image_id", what)
        labels, lesions = _ham_format(gt, table)
        meta = [c for c in table.columns if c != "image_id"]
        return labelled_entries(gt, table, "image_id", labels, lesions, meta, files, split)
    table = read_table(gt, ("image", *ONE_HOT_CLASSES), "image", what)
    unknown = [c for c in table.columns if c not in ("image", *ONE_HOT_CLASSES, *WEIGHT_COLUMNS)]
    if unknown:
        raise ValueError(f"{gt}: unknown column(s) {unknown}; expected image, {list(ONE_HOT_CLASSES)} "
                         f"and optionally {list(WEIGHT_COLUMNS)}")
    labels = [c.lower() for c in one_hot_labels(gt, table, ONE_HOT_CLASSES)]
    meta = [c for c in table.columns if c in WEIGHT_COLUMNS]
    return labelled_entries(gt, table, "image", labels, [""] * len(table), meta, files, split)


def read_ham10000(root: str | Path) -> pd.DataFrame:
    """HAM10000 (train) plus the ISIC 2018 Task 3 validation and test sets where present: one row
    per image, ``SOURCE_COLUMNS`` then ``meta_<column>`` for every CSV column but the image id."""
    root = Path(root)
    metadata = root / METADATA
    if not metadata.is_file() and (root / METADATA_DATAVERSE).is_file():
        metadata = root / METADATA_DATAVERSE
    table = read_table(metadata, METADATA_COLUMNS, "image_id", "HAM10000")
    labels, lesions = _ham_format(metadata, table)
    meta = [c for c in table.columns if c != "image_id"]
    entries = labelled_entries(metadata, table, "image_id", labels, lesions, meta,
                               _split_files(root, IMAGE_FOLDERS), "train")
    entries += _challenge_split(root, VAL_GROUND_TRUTH, (VAL_IMAGES,), "val")
    entries += _challenge_split(root, TEST_GROUND_TRUTH, (TEST_IMAGES, TEST_IMAGES_DATAVERSE), "test")
    return assemble(entries, NAME)


def isic2019_overlap(ham: pd.DataFrame, isic2019_image_ids: Iterable[str]) -> pd.Series:
    """Per HAM row, whether its image is one of the ISIC 2019 training images, by id (HAM10000 ids
    are ISIC ids, e.g. ISIC_0024306). Same index as ``ham``; near-duplicates by hash are found
    elsewhere."""
    if "image_id" not in ham.columns:
        raise ValueError(f"isic2019_overlap: the HAM table has no image_id column; columns are {list(ham.columns)}")
    ids = {str(i).strip() for i in isic2019_image_ids}
    return ham["image_id"].astype(str).str.strip().isin(ids).rename("in_isic2019_training")
