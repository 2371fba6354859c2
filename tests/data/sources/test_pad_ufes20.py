"""The PAD-UFES-20 adapter on tiny copies of the official layout (metadata.csv + PNG folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samderm.data.sources import SOURCE_COLUMNS
from samderm.data.sources import pad_ufes20 as pad
from samderm.data.sources.taxonomy import DEFAULT_MAPPINGS, apply_mapping

# the header of the released metadata.csv, in order
HEADER = ("patient_id,lesion_id,smoke,drink,background_father,background_mother,age,pesticide,gender,"
          "skin_cancer_history,cancer_history,has_piped_water,has_sewage_system,fitspatrick,region,"
          "diameter_1,diameter_2,diagnostic,itch,grew,hurt,changed,bleed,elevation,img_id,biopsed")
META = [c for c in HEADER.split(",") if c not in ("patient_id", "lesion_id", "diagnostic", "img_id")]


def png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.random.default_rng(seed).random((8, 8, 3)) * 255).astype(np.uint8)).save(path)
    return path


def row(patient: str, lesion: str, diagnostic: str, img_id: str, age: str = "55", smoke: str = "False") -> str:
    # a released-looking row; the background_* and some other fields are often empty in the release
    values = {c: "" for c in HEADER.split(",")}
    values.update(patient_id=patient, lesion_id=lesion, diagnostic=diagnostic, img_id=img_id, age=age,
                  smoke=smoke, region="NECK", fitspatrick="3.0", diameter_1="6.0", biopsed="True", gender="FEMALE")
    return ",".join(values[c] for c in HEADER.split(","))


def write_csv(root: Path, rows: list[str], header: str = HEADER) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "metadata.csv").write_text("\n".join([header, *rows]) + "\n")
    return root / "metadata.csv"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """Three parts as unpacked from the archive (one nested the way the zips unpack), one listed
    image missing, one unlisted file."""
    root = tmp_path / "PAD-UFES-20"
    png(root / "images" / "imgs_part_1" / "imgs_part_1" / "PAT_46_881_14.png", 1)
    png(root / "images" / "imgs_part_1" / "imgs_part_1" / "PAT_46_881_15.png", 2)
    png(root / "imgs_part_2" / "PAT_8_15_820.png", 3)
    png(root / "imgs_part_3" / "PAT_99_5_1.png", 4)  # listed by no row
    write_csv(root, [
        row("PAT_46", "881", "BCC", "PAT_46_881_14.png", age="55"),
        row("PAT_46", "881", "BCC", "PAT_46_881_15.png", age="55"),
        row("PAT_8", "15", "SCC", "PAT_8_15_820.png", age="", smoke=""),
        row("PAT_7", "3", "NEV", "PAT_7_3_1.png"),  # its file is not shipped
    ])
    return root


def test_columns_are_the_contract_then_every_metadata_column(release):
    table = pad.read_pad_ufes20(release)
    assert list(table.columns) == SOURCE_COLUMNS + [f"meta_{c}" for c in META]
    assert all(table[c].map(type).eq(str).all() for c in table.columns)


def test_rows_values_and_groups(release):
    table = pad.read_pad_ufes20(release).set_index("image_id")
    first = table.loc["PAT_46_881_14.png"]
    assert first["path"] == str(release / "images" / "imgs_part_1" / "imgs_part_1" / "PAT_46_881_14.png")
    assert (first["dataset"], first["original_label"], first["lesion_class"], first["mapping"]) == ("pad_ufes20", "BCC", "", "")
    assert (first["lesion_id"], first["patient_id"], first["official_split"]) == ("pad_881", "PAT_46", "")
    assert table.loc["PAT_46_881_15.png", "lesion_id"] == "pad_881"  # two images, one lesion group
    assert first["meta_age"] == "55" and first["meta_region"] == "NECK" and first["meta_biopsed"] == "True"
    # a missing value stays "" (not "nan")
    assert table.loc["PAT_8_15_820.png", "meta_age"] == "" and table.loc["PAT_8_15_820.png", "meta_smoke"] == ""
    assert table.loc["PAT_8_15_820.png", "path"].endswith("imgs_part_2/PAT_8_15_820.png")


def test_missing_and_unlisted_files_are_kept_and_reconcile(release):
    table = pad.read_pad_ufes20(release)
    listed = ["PAT_46_881_14.png", "PAT_46_881_15.png", "PAT_8_15_820.png", "PAT_7_3_1.png"]
    assert table["image_id"].tolist() == listed + ["PAT_99_5_1.png"]  # CSV order, then unlisted
    missing = table.set_index("image_id").loc["PAT_7_3_1.png"]
    assert missing["path"] == "" and missing["original_label"] == "NEV"
    extra = table.set_index("image_id").loc["PAT_99_5_1.png"]
    assert extra["path"].endswith("PAT_99_5_1.png") and extra["original_label"] == ""
    assert extra["lesion_id"] == "solo_PAT_99_5_1.png" and extra["meta_age"] == ""
    files = sorted(p for p in release.rglob("*.png"))
    assert sorted(Path(p) for p in table["path"] if p) == files
    assert len(table) == 4 + 1 and table["image_id"].is_unique


def test_layout_lists_the_image_folders_that_exist(release):
    lay = pad.layout(release)
    assert lay["metadata"] == release / "metadata.csv"
    assert lay["image_dirs"] == [release / "images", release / "imgs_part_2", release / "imgs_part_3"]


def test_no_image_folder_is_refused(tmp_path):
    write_csv(tmp_path, [row("PAT_1", "1", "MEL", "PAT_1_1_1.png")])
    with pytest.raises(FileNotFoundError, match="no image folder"):
        pad.read_pad_ufes20(tmp_path)


def test_missing_column_names_file_and_column(tmp_path):
    png(tmp_path / "images" / "a.png")
    header = HEADER.replace(",biopsed", "")
    write_csv(tmp_path, [",".join(row("PAT_1", "1", "MEL", "a.png").split(",")[:-1])], header=header)
    with pytest.raises(ValueError, match=r"metadata\.csv: missing column\(s\) \['biopsed'\]"):
        pad.read_pad_ufes20(tmp_path)


def test_img_id_twice_names_file_and_both_rows(tmp_path):
    png(tmp_path / "images" / "a.png")
    write_csv(tmp_path, [row("PAT_1", "1", "MEL", "a.png"), row("PAT_2", "2", "NEV", "b.png"),
                         row("PAT_1", "1", "MEL", "a.png")])
    with pytest.raises(ValueError, match=r"metadata\.csv: image id a\.png listed 2 times \(rows \[2, 4\]\)"):
        pad.read_pad_ufes20(tmp_path)


def test_unknown_diagnostic_names_file_and_row(tmp_path):
    png(tmp_path / "images" / "a.png")
    write_csv(tmp_path, [row("PAT_1", "1", "MEL", "a.png"), row("PAT_2", "2", "MELANOMA", "b.png")])
    with pytest.raises(ValueError, match=r"metadata\.csv row 3: img_id 'b\.png' has diagnostic 'MELANOMA'"):
        pad.read_pad_ufes20(tmp_path)


def test_bowens_disease_listed_apart_is_read_and_maps_to_scc(tmp_path):
    png(tmp_path / "images" / "a.png")
    write_csv(tmp_path, [row("PAT_1", "1", "BOD", "a.png")])
    table = pad.read_pad_ufes20(tmp_path)
    mapped, _ = apply_mapping(table, DEFAULT_MAPPINGS["pad_ufes20"])
    assert mapped[["original_label", "lesion_class", "mapping"]].values.tolist() == [["BOD", "SCC", "mapped"]]


def test_ragged_row_names_file_and_row(tmp_path):
    png(tmp_path / "images" / "a.png")
    write_csv(tmp_path, [row("PAT_1", "1", "MEL", "a.png") + ",extra"])
    with pytest.raises(ValueError, match=r"metadata\.csv row 2: 27 field\(s\), the header has 26"):
        pad.read_pad_ufes20(tmp_path)


def test_one_file_in_two_folders_is_refused_naming_both(tmp_path):
    a = png(tmp_path / "images" / "a.png")
    b = png(tmp_path / "imgs_part_1" / "a.png")
    write_csv(tmp_path, [row("PAT_1", "1", "MEL", "a.png")])
    with pytest.raises(ValueError, match="in two places") as err:
        pad.read_pad_ufes20(tmp_path)
    assert str(a) in str(err.value) and str(b) in str(err.value)


def test_the_release_maps_onto_the_study_classes_and_counts_reconcile(release):
    from samderm.data.sources.taxonomy import DEFAULT_MAPPINGS, apply_mapping

    mapped, counts = apply_mapping(pad.read_pad_ufes20(release), DEFAULT_MAPPINGS["pad_ufes20"])
    assert mapped["lesion_class"].tolist() == ["BCC", "BCC", "SCC", "NV", ""]
    assert mapped["mapping"].tolist() == ["mapped"] * 4 + ["unlabelled"]
    assert counts["images"].sum() == len(mapped) == 5
