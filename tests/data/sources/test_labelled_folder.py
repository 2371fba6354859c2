"""The labelled-folder adapter: any image folder plus a CSV, with DDI's release as the example."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samderm.data.sources import SOURCE_COLUMNS
from samderm.data.sources.labelled_folder import read_labelled_folder

DDI_HEADER = "DDI_ID,DDI_file,skin_tone,malignant,disease"
DDI_COLUMNS = {"image": "DDI_file", "label": "disease"}


def image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = Image.fromarray((np.random.default_rng(seed).random((8, 8, 3)) * 255).astype(np.uint8))
    pixels.save(path, quality=90) if path.suffix == ".jpg" else pixels.save(path)
    return path


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def ddi(tmp_path: Path) -> Path:
    """A DDI-shaped folder: DDI/images/000001.png … and DDI/ddi_metadata.csv; 000004 is not shipped,
    000009.png is listed by no row."""
    root = tmp_path / "DDI"
    for i in (1, 2, 3):
        image(root / "images" / f"00000{i}.png", i)
    image(root / "images" / "000009.png", 9)
    write(root / "ddi_metadata.csv", [
        DDI_HEADER,
        "1,000001.png,56,True,melanoma-in-situ",
        "2,000002.png,12,False,seborrheic-keratosis",
        "3,000003.png,34,False,verruca-vulgaris",
        "4,000004.png,56,True,basal-cell-carcinoma",
    ])
    return root


def test_ddi_folder_columns_values_and_reconciliation(ddi):
    table = read_labelled_folder("ddi", ddi / "images", ddi / "ddi_metadata.csv", DDI_COLUMNS)
    assert list(table.columns) == SOURCE_COLUMNS + ["meta_DDI_ID", "meta_skin_tone", "meta_malignant"]
    assert table["image_id"].tolist() == ["000001.png", "000002.png", "000003.png", "000004.png", "000009.png"]
    first = table.iloc[0]
    assert first["path"] == str(ddi / "images" / "000001.png")
    assert (first["dataset"], first["original_label"], first["lesion_class"], first["mapping"]) == \
        ("ddi", "melanoma-in-situ", "", "")
    assert (first["lesion_id"], first["patient_id"], first["official_split"]) == ("solo_ddi_000001.png", "", "")
    assert (first["meta_DDI_ID"], first["meta_skin_tone"], first["meta_malignant"]) == ("1", "56", "True")
    missing, extra = table.iloc[3], table.iloc[4]
    assert missing["path"] == "" and missing["original_label"] == "basal-cell-carcinoma"
    assert extra["path"] == str(ddi / "images" / "000009.png") and extra["original_label"] == ""
    assert extra["meta_skin_tone"] == "" and extra["lesion_id"] == "solo_ddi_000009.png"
    assert sorted(p for p in table["path"] if p) == sorted(str(p) for p in (ddi / "images").glob("*.png"))


def test_ids_resolve_by_relative_path_or_stem_and_groups_are_prefixed(tmp_path):
    image(tmp_path / "img" / "a.jpg")
    image(tmp_path / "img" / "sub" / "b.png")
    image(tmp_path / "img" / "sub" / "c.jpeg")
    write(tmp_path / "labels.csv", ["file,dx,lesion,patient,fold,site",
                                    "a,mel,L1,P1,train,arm", "sub/b.png,nv,L1,P1,val,leg", "sub/c,nv,,,test,"])
    cols = {"image": "file", "label": "dx", "lesion_id": "lesion", "patient_id": "patient", "split": "fold"}
    table = read_labelled_folder("clinic", tmp_path / "img", tmp_path / "labels.csv", cols).set_index("image_id")
    assert list(table.columns) == SOURCE_COLUMNS[1:] + ["meta_site"]
    assert table.loc["a", "path"] == str(tmp_path / "img" / "a.jpg")  # by stem, any extension
    assert table.loc["sub/b.png", "path"] == str(tmp_path / "img" / "sub" / "b.png")  # by relative path
    assert table.loc["sub/c", "path"] == str(tmp_path / "img" / "sub" / "c.jpeg")
    assert table["lesion_id"].tolist() == ["clinic_L1", "clinic_L1", "solo_clinic_sub/c"]
    assert table["patient_id"].tolist() == ["clinic_P1", "clinic_P1", ""]
    assert table["official_split"].tolist() == ["train", "val", "test"]
    assert len(table) == 3


def test_two_files_with_one_stem_are_refused_naming_both(tmp_path):
    a = image(tmp_path / "img" / "x.jpg")
    b = image(tmp_path / "img" / "x.png")
    write(tmp_path / "labels.csv", ["file,dx", "x,mel"])
    with pytest.raises(ValueError, match=r"labels\.csv row 2: image 'x' is ambiguous") as err:
        read_labelled_folder("f", tmp_path / "img", tmp_path / "labels.csv", {"image": "file", "label": "dx"})
    assert str(a) in str(err.value) and str(b) in str(err.value)


def test_an_exact_file_name_is_not_ambiguous(tmp_path):
    image(tmp_path / "img" / "x.jpg")
    image(tmp_path / "img" / "x.png")
    write(tmp_path / "labels.csv", ["file,dx", "x.png,mel"])
    table = read_labelled_folder("f", tmp_path / "img", tmp_path / "labels.csv", {"image": "file", "label": "dx"})
    assert table.set_index("image_id").loc["x.png", "path"] == str(tmp_path / "img" / "x.png")
    assert table.set_index("image_id").loc["x.jpg", "original_label"] == ""  # the other one is unlisted
    assert len(table) == 2


@pytest.mark.parametrize("lines, cols, message", [
    (["DDI_ID,DDI_file,skin_tone,malignant"], DDI_COLUMNS, r"ddi_metadata\.csv: missing column\(s\) \['disease'\]"),
    ([DDI_HEADER, "1,000001.png,56,True,melanoma", "2,000001.png,12,False,nevus"], DDI_COLUMNS,
     r"ddi_metadata\.csv: image id 000001\.png listed 2 times \(rows \[2, 3\]\)"),
    ([DDI_HEADER, "1,000001.png,56,True,melanoma", "2,000002.png,12,False,"], DDI_COLUMNS,
     r"ddi_metadata\.csv row 3: image '000002\.png' has an empty label"),
    ([DDI_HEADER, "1,,56,True,melanoma"], DDI_COLUMNS, r"ddi_metadata\.csv row 2: empty image id"),
    ([DDI_HEADER, "1,000001.png,56,True"], DDI_COLUMNS, r"ddi_metadata\.csv row 2: 4 field\(s\), the header has 5"),
    ([DDI_HEADER + ",fold", "1,000001.png,56,True,melanoma,training"], {**DDI_COLUMNS, "split": "fold"},
     r"ddi_metadata\.csv row 2: split 'training'"),
    ([DDI_HEADER, "1,000001.png,56,True,melanoma", "2,000001,12,False,nevus"], DDI_COLUMNS,
     r"ddi_metadata\.csv: rows 2 \('000001\.png'\) and 3 \('000001'\) name the same file"),
])
def test_refusals_name_file_and_row(tmp_path, lines, cols, message):
    image(tmp_path / "images" / "000001.png")
    write(tmp_path / "ddi_metadata.csv", lines)
    with pytest.raises(ValueError, match=message):
        read_labelled_folder("ddi", tmp_path / "images", tmp_path / "ddi_metadata.csv", cols)


def test_bad_columns_mapping_is_refused(tmp_path):
    image(tmp_path / "images" / "000001.png")
    write(tmp_path / "ddi_metadata.csv", [DDI_HEADER, "1,000001.png,56,True,melanoma"])
    args = ("ddi", tmp_path / "images", tmp_path / "ddi_metadata.csv")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['diagnosis'\]"):
        read_labelled_folder(*args, {**DDI_COLUMNS, "diagnosis": "disease"})
    with pytest.raises(ValueError, match=r"must name the CSV column for \['label'\]"):
        read_labelled_folder(*args, {"image": "DDI_file"})
    with pytest.raises(FileNotFoundError, match="nothere.csv: file not found"):
        read_labelled_folder("ddi", tmp_path / "images", tmp_path / "nothere.csv", DDI_COLUMNS)
