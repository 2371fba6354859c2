"""HAM10000 + ISIC 2018 Task 3 val/test in their official layouts, written in tmp_path with the
official headers and a few tiny JPEGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from samderm.data.sources import SOURCE_COLUMNS
from samderm.data.sources import ham10000 as ham

META_HEADER = "lesion_id,image_id,dx,dx_type,age,sex,localization,dataset"
ONE_HOT_HEADER = "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC"
HAM_CLASSES = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]


def jpg(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.random.default_rng(seed).random((8, 8, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def one_hot(image: str, cls: str) -> str:
    return ",".join([image] + ["1.0" if c == cls else "0.0" for c in HAM_CLASSES])


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    """Two lesions (one with two images, split over part_1 and part_2), one metadata row whose
    image is not shipped, one shipped file no row lists; a val and a one-hot test set."""
    root = tmp_path / "ham"
    jpg(root / ham.IMAGE_FOLDERS[0] / "ISIC_0027419.jpg", 1)
    jpg(root / ham.IMAGE_FOLDERS[1] / "ISIC_0025030.jpg", 2)
    jpg(root / ham.IMAGE_FOLDERS[0] / "ISIC_0026769.jpg", 3)
    jpg(root / ham.IMAGE_FOLDERS[1] / "ISIC_0029999.jpg", 4)  # unlisted
    write(root / ham.METADATA, [
        META_HEADER,
        "HAM_0000118,ISIC_0027419,bkl,histo,80.0,male,scalp,vidir_modern",
        "HAM_0000118,ISIC_0025030,bkl,histo,80.0,male,scalp,vidir_modern",
        "HAM_0002730,ISIC_0026769,akiec,histo,,female,face,rosendahl",
        "HAM_0001466,ISIC_0031633,mel,histo,75.0,male,ear,vidir_modern",  # file not shipped
    ])
    jpg(root / ham.VAL_IMAGES / "ISIC_0034321.jpg", 5)
    (root / ham.VAL_IMAGES / "LICENSE.txt").write_text("not an image")
    write(root / ham.VAL_GROUND_TRUTH, [ONE_HOT_HEADER, one_hot("ISIC_0034321", "NV")])
    jpg(root / ham.TEST_IMAGES / "ISIC_0034524.jpg", 6)
    jpg(root / ham.TEST_IMAGES / "ISIC_0034525.jpg", 7)
    write(root / ham.TEST_GROUND_TRUTH, [ONE_HOT_HEADER, one_hot("ISIC_0034524", "AKIEC"),
                                         one_hot("ISIC_0034525", "VASC")])
    return root


def by_id(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("image_id")


def test_layout_names_the_official_files(tmp_path):
    names = {k: p.name for k, p in ham.layout(tmp_path).items()}
    assert names == {
        "metadata": "HAM10000_metadata.csv", "images_part_1": "HAM10000_images_part_1",
        "images_part_2": "HAM10000_images_part_2",
        "val_ground_truth": "ISIC2018_Task3_Validation_GroundTruth.csv",
        "val_images": "ISIC2018_Task3_Validation_Input",
        "test_ground_truth": "ISIC2018_Task3_Test_GroundTruth.csv", "test_images": "ISIC2018_Task3_Test_Input",
    }
    assert all(p.parent == tmp_path for p in ham.layout(tmp_path).values())


def test_columns_splits_labels_and_metadata(root):
    table = ham.read_ham10000(root)
    meta = ["lesion_id", "dx", "dx_type", "age", "sex", "localization", "dataset"]
    assert list(table.columns) == SOURCE_COLUMNS + [f"meta_{c}" for c in meta]
    assert (table["dataset"] == "ham10000").all()
    assert (table["lesion_class"] == "").all() and (table["mapping"] == "").all()
    assert (table["patient_id"] == "").all()
    assert all(isinstance(v, str) for v in table.to_numpy().ravel())
    t = by_id(table)
    assert t["official_split"].to_dict() == {
        "ISIC_0027419": "train", "ISIC_0025030": "train", "ISIC_0026769": "train", "ISIC_0031633": "train",
        "ISIC_0029999": "train", "ISIC_0034321": "val", "ISIC_0034524": "test", "ISIC_0034525": "test"}
    # one vocabulary: HAM's dx, the one-hot columns lower-cased
    assert t.loc["ISIC_0026769", "original_label"] == "akiec"
    assert t.loc["ISIC_0034321", "original_label"] == "nv"
    assert t.loc["ISIC_0034524", "original_label"] == "akiec"
    assert t.loc["ISIC_0034525", "original_label"] == "vasc"
    assert t.loc["ISIC_0027419", "meta_localization"] == "scalp"
    assert t.loc["ISIC_0026769", "meta_dataset"] == "rosendahl"
    assert t.loc["ISIC_0026769", "meta_age"] == ""  # missing stays ""
    assert t.loc["ISIC_0034524", "meta_dx_type"] == ""  # the one-hot file carries no metadata
    assert t.loc["ISIC_0025030", "path"] == str(root / ham.IMAGE_FOLDERS[1] / "ISIC_0025030.jpg")
    assert t.loc["ISIC_0034321", "path"] == str(root / ham.VAL_IMAGES / "ISIC_0034321.jpg")


def test_lesion_groups(root):
    t = by_id(ham.read_ham10000(root))
    assert t.loc["ISIC_0027419", "lesion_id"] == t.loc["ISIC_0025030", "lesion_id"] == "HAM_0000118"
    assert t.loc["ISIC_0026769", "lesion_id"] == "HAM_0002730"
    assert t.loc["ISIC_0034524", "lesion_id"] == "solo_ISIC_0034524"  # one-hot files give no lesion
    assert t.loc["ISIC_0029999", "lesion_id"] == "solo_ISIC_0029999"


def test_missing_and_unlabelled_images_are_kept_and_counts_reconcile(root):
    table = ham.read_ham10000(root)
    t = by_id(table)
    assert t.loc["ISIC_0031633", "path"] == "" and t.loc["ISIC_0031633", "original_label"] == "mel"
    assert t.loc["ISIC_0029999", "original_label"] == "" and t.loc["ISIC_0029999", "path"].endswith("ISIC_0029999.jpg")
    listed = 4 + 1 + 2
    files = len(list(root.rglob("*.jpg")))
    assert table["image_id"].is_unique
    assert len(table) == 8 == listed + 1  # every listed id and the one unlisted file, once each
    assert (table["path"] != "").sum() == files == 7
    assert (table["original_label"] == "").sum() == 1


def test_optional_splits_and_dataverse_names(tmp_path):
    """Dataverse: HAM10000_metadata without extension, test set in ISIC2018_Task3_Test_Images with
    its ground truth in the HAM format (lesion_id given); no validation set."""
    root = tmp_path / "dv"
    jpg(root / ham.IMAGE_FOLDERS[0] / "ISIC_0027419.jpg")
    write(root / "HAM10000_metadata", [META_HEADER, "HAM_0000118,ISIC_0027419,bkl,histo,80.0,male,scalp,vidir_modern"])
    jpg(root / ham.TEST_IMAGES_DATAVERSE / "ISIC_0034524.jpg")
    write(root / ham.TEST_GROUND_TRUTH, [
        META_HEADER,
        "HAM_0007777,ISIC_0034524,df,histo,40.0,female,back,vidir_molemax",
        "HAM_0007777,ISIC_0035068,df,histo,40.0,female,back,vidir_molemax",  # not shipped
    ])
    t = by_id(ham.read_ham10000(root))
    assert set(t["official_split"]) == {"train", "test"}
    got = t.loc["ISIC_0034524", ["original_label", "lesion_id", "meta_localization"]].tolist()
    assert got == ["df", "HAM_0007777", "back"]
    assert t.loc["ISIC_0034524", "path"].endswith("ISIC2018_Task3_Test_Images/ISIC_0034524.jpg")
    assert t.loc["ISIC_0035068", "path"] == ""


def test_refuses_missing_metadata_or_column(root):
    (root / ham.METADATA).unlink()
    with pytest.raises(FileNotFoundError, match="HAM10000_metadata.csv"):
        ham.read_ham10000(root)
    write(root / ham.METADATA, ["lesion_id,image_id,dx_type,age,sex,localization",
                                "HAM_1,ISIC_0027419,histo,80,male,scalp"])
    with pytest.raises(ValueError, match=r"HAM10000_metadata.csv: missing column\(s\) \['dx'\]"):
        ham.read_ham10000(root)


def test_refuses_unknown_dx_naming_file_and_row(root):
    lines = (root / ham.METADATA).read_text().splitlines()
    lines[3] = lines[3].replace(",akiec,", ",ak,")
    write(root / ham.METADATA, lines)
    with pytest.raises(ValueError, match=r"HAM10000_metadata.csv row 4: unknown dx 'ak'"):
        ham.read_ham10000(root)


def test_refuses_an_id_listed_twice(root):
    lines = (root / ham.METADATA).read_text().splitlines()
    write(root / ham.METADATA, lines + [lines[1]])
    with pytest.raises(ValueError,
                       match=r"HAM10000_metadata.csv: image id ISIC_0027419 listed 2 times \(rows \[2, 6\]\)"):
        ham.read_ham10000(root)


def test_refuses_an_id_in_two_files(root):
    write(root / ham.VAL_GROUND_TRUTH, [ONE_HOT_HEADER, one_hot("ISIC_0034321", "NV"), one_hot("ISIC_0027419", "BKL")])
    with pytest.raises(ValueError, match=r"ISIC_0027419 appears twice: .*HAM10000_metadata.csv row 2 and "
                                         r".*ISIC2018_Task3_Validation_GroundTruth.csv row 3"):
        ham.read_ham10000(root)


def test_refuses_one_image_in_both_parts(root):
    jpg(root / ham.IMAGE_FOLDERS[1] / "ISIC_0027419.jpg")
    with pytest.raises(ValueError, match="ISIC_0027419 appears twice: file .*part_1.* and file .*part_2"):
        ham.read_ham10000(root)


@pytest.mark.parametrize("row, message", [
    ("ISIC_0034525,0.0,0.0,0.0,0.0,0.0,0.0,0.0", "no class"),
    ("ISIC_0034525,1.0,0.0,0.0,0.0,0.0,0.0,1.0", r"2 classes \['MEL', 'VASC'\]"),
    ("ISIC_0034525,0.5,0.0,0.0,0.0,0.0,0.0,0.5", "not a 0/1 value"),
])
def test_refuses_a_row_that_is_not_one_hot(root, row, message):
    write(root / ham.TEST_GROUND_TRUTH, [ONE_HOT_HEADER, one_hot("ISIC_0034524", "AKIEC"), row])
    with pytest.raises(ValueError, match=rf"ISIC2018_Task3_Test_GroundTruth.csv row 3: {message}"):
        ham.read_ham10000(root)


def test_refuses_an_image_folder_without_its_ground_truth(root):
    (root / ham.VAL_GROUND_TRUTH).unlink()
    with pytest.raises(FileNotFoundError, match="ISIC2018_Task3_Validation_GroundTruth.csv: file not found"):
        ham.read_ham10000(root)


def test_isic2019_overlap_by_id(root):
    table = ham.read_ham10000(root)
    isic2019_training = ["ISIC_0027419", " ISIC_0026769", "ISIC_0000000"]
    overlap = ham.isic2019_overlap(table, iter(isic2019_training))  # any iterable, once
    assert overlap.dtype == bool and overlap.index.equals(table.index)
    assert set(table.loc[overlap, "image_id"]) == {"ISIC_0027419", "ISIC_0026769"}
    assert not ham.isic2019_overlap(table, []).any()


def test_challenge_zips_ground_truth_folders_and_dataverse_tab_names(tmp_path):
    """As the official archives unpack: the challenge's ground-truth zips put their CSV in a folder of
    its name; Dataverse lists the metadata and the test ground truth as ``.tab`` (tab-separated,
    strings quoted)."""
    root = tmp_path / "official"
    jpg(root / ham.IMAGE_FOLDERS[0] / "ISIC_0027419.jpg")
    tab = [META_HEADER.replace(",", "\t"),
           '"HAM_0000118"\t"ISIC_0027419"\t"bkl"\t"histo"\t80\t"male"\t"scalp"\t"vidir_modern"']
    write(root / ham.METADATA_TAB, tab)
    jpg(root / ham.VAL_IMAGES / "ISIC_0034321.jpg")
    (root / "ISIC2018_Task3_Validation_GroundTruth").mkdir()
    write(root / "ISIC2018_Task3_Validation_GroundTruth" / ham.VAL_GROUND_TRUTH,
          [ONE_HOT_HEADER, one_hot("ISIC_0034321", "DF")])
    jpg(root / ham.TEST_IMAGES_DATAVERSE / "ISIC_0034524.jpg")
    write(root / ham.TEST_GROUND_TRUTH_TAB, [META_HEADER.replace(",", "\t"),
                                             '"HAM_0007777"\t"ISIC_0034524"\t"mel"\t"histo"\t""\t"female"\t"back"\t"vidir_molemax"'])
    t = by_id(ham.read_ham10000(root))
    assert t[["official_split", "original_label", "lesion_id"]].to_dict("index") == {
        "ISIC_0027419": {"official_split": "train", "original_label": "bkl", "lesion_id": "HAM_0000118"},
        "ISIC_0034321": {"official_split": "val", "original_label": "df", "lesion_id": "solo_ISIC_0034321"},
        "ISIC_0034524": {"official_split": "test", "original_label": "mel", "lesion_id": "HAM_0007777"}}
    assert (t["path"] != "").all() and t.loc["ISIC_0027419", "meta_age"] == "80"


def test_two_files_for_one_table_are_refused(root):
    write(root / ham.METADATA_DATAVERSE, (root / ham.METADATA).read_text().splitlines())
    with pytest.raises(ValueError, match=r"2 files for the HAM10000 metadata: .*HAM10000_metadata.csv.*HAM10000_metadata'\]"):
        ham.read_ham10000(root)
    (root / ham.METADATA_DATAVERSE).unlink()
    (root / "ISIC2018_Task3_Test_GroundTruth").mkdir()
    write(root / "ISIC2018_Task3_Test_GroundTruth" / ham.TEST_GROUND_TRUTH, [ONE_HOT_HEADER])
    with pytest.raises(ValueError, match=r"2 files for the test ground truth"):
        ham.read_ham10000(root)
