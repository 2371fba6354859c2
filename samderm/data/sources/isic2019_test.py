"""The official ISIC 2019 test set (ISIC challenge data, isic-challenge-data / isic-archive S3
``challenges/2019/``) in its published layout under one folder:

    ISIC_2019_Test_Input/            {image}.jpg (plus ATTRIBUTION.txt / LICENSE.txt, ignored)
    ISIC_2019_Test_GroundTruth.csv   one-hot: image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK; the optional
                                     score_weight / validation_weight columns (read by the official
                                     isic-challenge-scoring) are kept as meta_ columns
    ISIC_2019_Test_Metadata.csv      image,age_approx,anatom_site_general,sex (no lesion_id; used
                                     when a release carries one)

Every image is ``official_split`` "test"; ``original_label`` is the ground-truth column with the 1,
``UNK`` rows included (the out-of-distribution class of this test set; the taxonomy step decides).
Counts reconcile as in ``ham10000``: every id of either CSV and every ``.jpg`` appears once; a
listed image whose file is missing keeps ``path`` "", and an id with no ground-truth row (a file,
or a metadata row) is returned with ``original_label`` "" rather than refused, for the manifest to
count and report. Refused, naming file and row: a missing file or column, an unknown column in
the ground truth, an id listed twice, a one-hot row without exactly one 1.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from samderm.data.labels import ISIC_CLASSES, UNK
from samderm.data.sources import SOURCE_COLUMNS
from samderm.data.sources.ham10000 import WEIGHT_COLUMNS, assemble, image_files, one_hot_labels, read_table

NAME = "isic2019_test"
GROUND_TRUTH = "ISIC_2019_Test_GroundTruth.csv"
METADATA = "ISIC_2019_Test_Metadata.csv"
IMAGE_FOLDER = "ISIC_2019_Test_Input"
CLASSES = (*ISIC_CLASSES, UNK)
METADATA_COLUMNS = ("image", "age_approx", "anatom_site_general", "sex")
WHAT = "ISIC 2019 test"


def layout(root: str | Path) -> dict[str, Path]:
    """The ISIC 2019 test files under one folder."""
    root = Path(root)
    return {"ground_truth": root / GROUND_TRUTH, "metadata": root / METADATA, "images": root / IMAGE_FOLDER}


def read_isic2019_test(root: str | Path) -> pd.DataFrame:
    """One row per image of the ISIC 2019 test set: ``SOURCE_COLUMNS`` then ``meta_<column>`` for
    every metadata column and the ground truth's weight columns."""
    files = layout(root)
    gt = read_table(files["ground_truth"], ("image", *CLASSES), "image", WHAT)
    unknown = [c for c in gt.columns if c not in ("image", *CLASSES, *WEIGHT_COLUMNS)]
    if unknown:
        raise ValueError(f"{files['ground_truth']}: unknown column(s) {unknown}; expected image, "
                         f"{list(CLASSES)} and optionally {list(WEIGHT_COLUMNS)}")
    labels = one_hot_labels(files["ground_truth"], gt, CLASSES)
    meta = read_table(files["metadata"], METADATA_COLUMNS, "image", WHAT)
    meta_columns = [c for c in meta.columns if c != "image"] + [c for c in gt.columns if c in WEIGHT_COLUMNS]
    meta_rows = {image: i for i, image in enumerate(meta["image"])}
    images = image_files(files["images"])

    entries = []
    for i, (image, label) in enumerate(zip(gt["image"], labels)):
        values = dict.fromkeys(meta_columns, "") | {c: gt.at[i, c] for c in gt.columns if c in WEIGHT_COLUMNS}
        j = meta_rows.get(image)
        if j is not None:
            values.update({c: meta.at[j, c] for c in meta.columns if c != "image"})
        entries.append(_entry(image, images, label, values, f"{files['ground_truth']} row {i + 2}"))
    listed = set(gt["image"])
    for image, j in meta_rows.items():  # metadata rows without a ground-truth row: unlabelled
        if image not in listed:
            values = dict.fromkeys(meta_columns, "") | {c: meta.at[j, c] for c in meta.columns if c != "image"}
            entries.append(_entry(image, images, "", values, f"{files['metadata']} row {j + 2}"))
    listed |= set(meta_rows)
    for image, file in images.items():  # files no CSV lists: unlabelled
        if image not in listed:
            entries.append(_entry(image, images, "", dict.fromkeys(meta_columns, ""), f"file {file}"))
    columns = list(SOURCE_COLUMNS) + [f"meta_{c}" for c in meta_columns]
    return assemble(entries, NAME).reindex(columns=columns, fill_value="")


def _entry(image: str, images: dict[str, Path], label: str, values: dict[str, str], where: str) -> dict:
    file = images.get(image)
    return {"image_id": image, "path": str(file) if file else "", "original_label": label,
            "lesion_id": values.get("lesion_id", ""), "official_split": "test", "where": where,
            "meta": values}
