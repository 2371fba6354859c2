"""HAM10000 (Tschandl et al. 2018, Harvard Dataverse doi:10.7910/DVN/DBW86T) with the official
ISIC 2018 Task 3 validation and test sets, in their published layouts under one folder:

    HAM10000_metadata.csv                      lesion_id,image_id,dx,dx_type,age,sex,localization[,dataset]
                                               (Dataverse lists it as ``HAM10000_metadata.tab``: its
                                               tab-separated, quoted archival format; a browser may save it
                                               as ``HAM10000_metadata``: one of the three names is read,
                                               comma or tab separated; two of them are refused)
    HAM10000_images_part_1/  HAM10000_images_part_2/        {image_id}.jpg  -> official_split "train"
                                               (the Dataverse zips hold the .jpg files at their top: unpack
                                               each into the folder of its name)
    ISIC2018_Task3_Validation_Input/           {image}.jpg                   -> "val"
    ISIC2018_Task3_Validation_GroundTruth.csv  one-hot: image,MEL,NV,BCC,AKIEC,BKL,DF,VASC (the challenge's
                                               zip unpacks it into ISIC2018_Task3_Validation_GroundTruth/,
                                               read there too)
    ISIC2018_Task3_Test_Input/                 {image}.jpg (challenge site; the Dataverse zip unpacks to
                                               ISIC2018_Task3_Test_Images/, read when Test_Input is absent)
    ISIC2018_Task3_Test_GroundTruth.csv        -> "test"; either the challenge's one-hot file (its zip
                                               unpacks it into ISIC2018_Task3_Test_GroundTruth/, read there
                                               too) or the Dataverse file "in the same format as the
                                               HAM10000 data" (lesion_id,image_id,dx,...; Dataverse lists
                                               it as ISIC2018_Task3_Test_GroundTruth.tab, read under that
                                               name too): told apart by its header. Two of these files
                                               for one split are refused.

The validation and test parts are optional: a split whose ground truth and image folder are both
absent is left out. A ground-truth file with no image folder gives rows with ``path`` "" (counted).

Unlisted files and unshipped images: every id listed in a CSV and every ``.jpg`` in an image folder
appears exactly once. A listed image whose file is missing keeps ``path`` ""; a file no CSV lists is
returned with ``original_label`` "" (and ``lesion_id`` ``solo_{image_id}``, the folder's split) rather
than refused, so one stray file does not block a dataset and is not silently lost: the manifest
counts and reports both. Malformed input is refused with the file and row named (by the strict
reader of ``samderm.data.sources.tables``, which takes every CSV comma or tab separated): a missing
file or column, a column twice, a row with the wrong number of fields, an empty id, an id listed
twice (in one file, across files, or as two image files), a one-hot row without exactly one 1, an
unknown ``dx``.

``original_label`` is HAM's ``dx`` vocabulary for all three splits (one-hot ``AKIEC`` -> ``akiec``);
``lesion_class`` and ``mapping`` stay "" for the taxonomy step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from samderm.data.sources.tables import (WEIGHT_COLUMNS, assemble, csv_header, image_files, meta_name, read_csv,
                                         read_one_hot)

NAME = "ham10000"
METADATA = "HAM10000_metadata.csv"
METADATA_DATAVERSE = "HAM10000_metadata"
METADATA_TAB = "HAM10000_metadata.tab"
METADATA_NAMES = (METADATA, METADATA_DATAVERSE, METADATA_TAB)  # one of them is read
IMAGE_FOLDERS = ("HAM10000_images_part_1", "HAM10000_images_part_2")
VAL_GROUND_TRUTH = "ISIC2018_Task3_Validation_GroundTruth.csv"
VAL_IMAGES = "ISIC2018_Task3_Validation_Input"
TEST_GROUND_TRUTH = "ISIC2018_Task3_Test_GroundTruth.csv"
TEST_GROUND_TRUTH_TAB = "ISIC2018_Task3_Test_GroundTruth.tab"  # the Dataverse test ground truth's listed name
TEST_IMAGES = "ISIC2018_Task3_Test_Input"
TEST_IMAGES_DATAVERSE = "ISIC2018_Task3_Test_Images"

DX = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
METADATA_COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
ONE_HOT_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")


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


def ground_truth_names(name: str) -> tuple[str, ...]:
    """Where a split's ground truth ``name`` may lie, relative to the root: at the top, or in the
    folder of its name (as the challenge's ``..._GroundTruth.zip`` unpacks); the test set's also as
    Dataverse lists it (``.tab``)."""
    stem = Path(name).stem
    return (name, *((TEST_GROUND_TRUTH_TAB,) if name == TEST_GROUND_TRUTH else ()), f"{stem}/{name}")


def _one_of(root: Path, names: tuple[str, ...], what: str) -> Path | None:
    """The one of ``names`` under ``root`` that is a file; None when none is; two are refused."""
    found = [root / n for n in names if (root / n).is_file()]
    if len(found) > 1:
        raise ValueError(f"{root}: {len(found)} files for the {what}: {[str(f) for f in found]}; keep one")
    return found[0] if found else None


def labelled_entries(path: Path, table: pd.DataFrame, id_column: str, labels: list[str],
                     lesion_ids: list[str], meta_columns: list[str], files: dict[str, Path],
                     split: str) -> list[dict]:
    """One entry per CSV row, then one per file of ``files`` no row lists (``original_label`` "").
    ``meta_columns``: the columns of ``table`` kept as ``meta_`` columns."""
    meta = [(c, meta_name(c, table.columns.get_loc(c))) for c in meta_columns]
    entries = []
    for row, image, label, lesion in zip(table.index, table[id_column], labels, lesion_ids):
        file = files.get(image)
        entries.append({"image_id": image, "path": str(file) if file else "", "original_label": label,
                        "lesion_id": lesion, "official_split": split, "where": f"{path} row {row}",
                        **{m: table.at[row, c] for c, m in meta}})
    listed = set(table[id_column])
    for image, file in files.items():
        if image not in listed:
            entries.append({"image_id": image, "path": str(file), "official_split": split,
                            "where": f"file {file}"})
    return entries


# --- HAM10000 ----------------------------------------------------------------------------------------


def _ham_format(path: Path, table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(dx labels, lesion ids) of a table in the HAM10000_metadata format; refuses an unknown dx."""
    for row, dx in table["dx"].items():
        if dx not in DX:
            raise ValueError(f"{path} row {row}: unknown dx {dx!r}; HAM10000 classes are {list(DX)}")
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
    gt = _one_of(root, ground_truth_names(gt_name), f"{split} ground truth") or root / gt_name
    present = [root / f for f in folders if (root / f).is_dir()]
    if not gt.is_file() and not present:
        return []
    files = image_files(present[0]) if present else {}  # the first of the folder names found
    what = "ISIC 2018 Task 3"
    if not gt.is_file():
        raise FileNotFoundError(f"{gt}: file not found, but the {split} images {present[0]} are there "
                                f"(expected in the {what} layout)")
    header = csv_header(gt)
    if "image_id" in header and "image" not in header:
        table = read_csv(gt, METADATA_COLUMNS, what, id_column="image_id")
        labels, lesions = _ham_format(gt, table)
        meta = [c for c in table.columns if c != "image_id"]
        return labelled_entries(gt, table, "image_id", labels, lesions, meta, files, split)
    table, labels = read_one_hot(gt, ONE_HOT_CLASSES, what)
    labels = [c.lower() for c in labels]
    meta = [c for c in table.columns if c in WEIGHT_COLUMNS]
    return labelled_entries(gt, table, "image", labels, [""] * len(table), meta, files, split)


def read_ham10000(root: str | Path) -> pd.DataFrame:
    """HAM10000 (train) plus the ISIC 2018 Task 3 validation and test sets where present: one row
    per image, ``SOURCE_COLUMNS`` then ``meta_<column>`` for every CSV column but the image id."""
    root = Path(root)
    metadata = _one_of(root, METADATA_NAMES, "HAM10000 metadata") or root / METADATA
    table = read_csv(metadata, METADATA_COLUMNS, "HAM10000", id_column="image_id")
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
