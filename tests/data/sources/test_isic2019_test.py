"""The ISIC 2019 official test set in its layout, written in tmp_path with the official headers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samderm.data.sources import SOURCE_COLUMNS
from samderm.data.sources import isic2019_test as t19

CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
GT_HEADER = "image," + ",".join(CLASSES)
META_HEADER = "image,age_approx,anatom_site_general,sex"


def jpg(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.random.default_rng(seed).random((8, 8, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def gt(image: str, cls: str, extra: str = "") -> str:
    return ",".join([image] + ["1.0" if c == cls else "0.0" for c in CLASSES]) + extra


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    """Three labelled images (one UNK), one labelled image not shipped, one file no CSV lists."""
    root = tmp_path / "isic2019_test"
    folder = root / t19.IMAGE_FOLDER
    for i, image in enumerate(["ISIC_0034321", "ISIC_0034322", "ISIC_0034323", "ISIC_0099999"]):
        jpg(folder / f"{image}.jpg", i)
    (folder / "ATTRIBUTION.txt").write_text("not an image")
    write(root / t19.GROUND_TRUTH, [GT_HEADER, gt("ISIC_0034321", "MEL"), gt("ISIC_0034322", "UNK"),
                                    gt("ISIC_0034323", "SCC"), gt("ISIC_0034324", "NV")])
    write(root / t19.METADATA, [META_HEADER, "ISIC_0034321,55,anterior torso,male",
                                "ISIC_0034322,,,", "ISIC_0034323,70,head/neck,female",
                                "ISIC_0034324,30,lower extremity,female"])
    return root


def test_layout_names_the_official_files(tmp_path):
    assert {k: p.name for k, p in t19.layout(tmp_path).items()} == {
        "ground_truth": "ISIC_2019_Test_GroundTruth.csv", "metadata": "ISIC_2019_Test_Metadata.csv",
        "images": "ISIC_2019_Test_Input"}


def test_columns_labels_unk_and_metadata(root):
    table = t19.read_isic2019_test(root)
    assert list(table.columns) == SOURCE_COLUMNS + ["meta_age_approx", "meta_anatom_site_general", "meta_sex"]
    assert (table["dataset"] == "isic2019_test").all() and (table["official_split"] == "test").all()
    assert (table["lesion_class"] == "").all() and (table["mapping"] == "").all() and (table["patient_id"] == "").all()
    t = table.set_index("image_id")
    assert t["original_label"].to_dict() == {"ISIC_0034321": "MEL", "ISIC_0034322": "UNK", "ISIC_0034323": "SCC",
                                             "ISIC_0034324": "NV", "ISIC_0099999": ""}
    assert t.loc["ISIC_0034322", "path"] == str(root / t19.IMAGE_FOLDER / "ISIC_0034322.jpg")  # UNK kept
    assert t.loc["ISIC_0034323", "meta_anatom_site_general"] == "head/neck"
    assert t.loc["ISIC_0034322", ["meta_age_approx", "meta_sex"]].tolist() == ["", ""]
    assert (t["lesion_id"] == "solo_" + t.index).all()  # no lesion_id in this release


def test_missing_and_unlabelled_images_are_kept_and_counts_reconcile(root):
    table = t19.read_isic2019_test(root)
    t = table.set_index("image_id")
    assert t.loc["ISIC_0034324", "path"] == ""
    assert t.loc["ISIC_0099999", "original_label"] == "" and t.loc["ISIC_0099999", "path"] != ""
    assert table["image_id"].is_unique and len(table) == 4 + 1
    assert (table["path"] != "").sum() == len(list((root / t19.IMAGE_FOLDER).glob("*.jpg"))) == 4


def test_metadata_only_row_and_weight_columns(root):
    write(root / t19.GROUND_TRUTH, ["image," + ",".join(CLASSES) + ",score_weight,validation_weight",
                                    gt("ISIC_0034321", "MEL", ",1.0,0.0"), gt("ISIC_0034322", "UNK", ",0.0,1.0")])
    table = t19.read_isic2019_test(root)
    assert list(table.columns[len(SOURCE_COLUMNS):]) == ["meta_age_approx", "meta_anatom_site_general", "meta_sex",
                                                        "meta_score_weight", "meta_validation_weight"]
    t = table.set_index("image_id")
    assert t.loc["ISIC_0034322", ["meta_score_weight", "meta_validation_weight"]].tolist() == ["0.0", "1.0"]
    # listed by the metadata only: kept, unlabelled, with its metadata
    assert t.loc["ISIC_0034323", ["original_label", "meta_sex"]].tolist() == ["", "female"]
    assert len(table) == 5 and table["image_id"].is_unique


def test_refuses_missing_files_and_columns(root):
    (root / t19.METADATA).unlink()
    with pytest.raises(FileNotFoundError, match="ISIC_2019_Test_Metadata.csv: file not found"):
        t19.read_isic2019_test(root)
    write(root / t19.METADATA, ["image,age_approx,sex", "ISIC_0034321,55,male"])
    with pytest.raises(ValueError, match=r"ISIC_2019_Test_Metadata.csv: missing column\(s\) \['anatom_site_general'\]"):
        t19.read_isic2019_test(root)
    write(root / t19.GROUND_TRUTH, ["image," + ",".join(CLASSES[:-1]), "ISIC_0034321,1,0,0,0,0,0,0,0"])
    with pytest.raises(ValueError, match=r"ISIC_2019_Test_GroundTruth.csv: missing column\(s\) \['UNK'\]"):
        t19.read_isic2019_test(root)


def test_refuses_unknown_ground_truth_column(root):
    lines = (root / t19.GROUND_TRUTH).read_text().splitlines()
    write(root / t19.GROUND_TRUTH, [lines[0] + ",OTHER"] + [line + ",0.0" for line in lines[1:]])
    with pytest.raises(ValueError, match=r"ISIC_2019_Test_GroundTruth.csv: unknown column\(s\) \['OTHER'\]"):
        t19.read_isic2019_test(root)


@pytest.mark.parametrize("name", [t19.GROUND_TRUTH, t19.METADATA])
def test_refuses_an_id_listed_twice(root, name):
    lines = (root / name).read_text().splitlines()
    write(root / name, lines + [lines[2]])
    with pytest.raises(ValueError, match=rf"{name}: image id ISIC_0034322 listed 2 times \(rows \[3, 6\]\)"):
        t19.read_isic2019_test(root)


@pytest.mark.parametrize("row, message", [
    ("ISIC_0034323,0,0,0,0,0,0,0,0,0", "no class"),
    ("ISIC_0034323,0,0,0,0,0,0,0,1,1", r"2 classes \['SCC', 'UNK'\]"),
    ("ISIC_0034323,0,0,0,0,0,0,0,yes,0", "not a 0/1 value"),
])
def test_refuses_a_row_that_is_not_one_hot(root, row, message):
    lines = (root / t19.GROUND_TRUTH).read_text().splitlines()
    lines[3] = row
    write(root / t19.GROUND_TRUTH, lines)
    with pytest.raises(ValueError, match=rf"ISIC_2019_Test_GroundTruth.csv row 4: {message}"):
        t19.read_isic2019_test(root)
