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
count and report. Refused, naming file and row (the strict reader of
``samderm.data.sources.tables``; comma or tab separated): a missing file or column, a column twice,
a row with the wrong number of fields, an unknown column in the ground truth, an empty id, an id
listed twice, a one-hot row without exactly one 1.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from samderm.data.labels import ISIC_CLASSES, UNK
from samderm.data.sources.tables import WEIGHT_COLUMNS, assemble, image_files, meta_name, read_csv, read_one_hot

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
    gt, labels = read_one_hot(files["ground_truth"], CLASSES, WHAT)
    meta = read_csv(files["metadata"], METADATA_COLUMNS, WHAT, id_column="image")
    meta_of = [(c, meta_name(c, i)) for i, c in enumerate(meta.columns) if c != "image"]
    weights = [(c, meta_name(c, i)) for i, c in enumerate(gt.columns) if c in WEIGHT_COLUMNS]
    meta_rows = dict(zip(meta["image"], meta.index))
    images = image_files(files["images"])

    entries = []
    for row, image, label in zip(gt.index, gt["image"], labels):
        values = {m: gt.at[row, c] for c, m in weights}
        j = meta_rows.get(image)
        if j is not None:
            values.update({m: meta.at[j, c] for c, m in meta_of})
        entries.append(_entry(image, images, label, values, f"{files['ground_truth']} row {row}"))
    listed = set(gt["image"])
    for image, j in meta_rows.items():  # metadata rows without a ground-truth row: unlabelled
        if image not in listed:
            values = {m: meta.at[j, c] for c, m in meta_of}
            entries.append(_entry(image, images, "", values, f"{files['metadata']} row {j}"))
    listed |= set(meta_rows)
    for image, file in images.items():  # files no CSV lists: unlabelled
        if image not in listed:
            entries.append(_entry(image, images, "", {}, f"file {file}"))
    return assemble(entries, NAME, [m for _, m in meta_of + weights])


def _entry(image: str, images: dict[str, Path], label: str, values: dict[str, str], where: str) -> dict:
    """``values``: the image's ``meta_`` columns; a metadata ``lesion_id`` (when a release carries
    one) is also its ``lesion_id``."""
    file = images.get(image)
    return {"image_id": image, "path": str(file) if file else "", "original_label": label,
            "lesion_id": values.get("meta_lesion_id", ""), "official_split": "test", "where": where, **values}
