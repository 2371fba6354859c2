"""External test sources in the manifest and splits: mapping, official split, groups, and the overlap
with training sources (by image id, lesion id and perceptual hash) taken out of the test side, counted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from samderm.data.isic import layout
from samderm.data.manifest import build_manifest_tables
from samderm.data.sources.ham10000 import read_ham10000
from samderm.data.sources.read import read_source
from samderm.data.splits import make_splits
from samderm.train.tasks import label_matrix, task_classes

from .conftest import write_image

SPLITS = {"seed": 0, "fractions": {"train": 0.6, "val": 0.2, "test": 0.2}, "folds": 0, "ood_val_fraction": 0.5}


def reencode(src: Path, dest: Path) -> Path:
    """A copy with other bytes and another size: what a re-posted public image looks like."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(src).convert("RGB")
    image.resize((image.width * 2, image.height * 2), Image.BILINEAR).save(dest, quality=80)
    return dest


@pytest.fixture
def training(isic_layout):
    """Ten ISIC lesions of two classes, two images each; 64-px images so the pHash means something."""
    for i in range(10):
        for j in range(2):
            isic_layout.add(f"ISIC_{i:02d}{j}", ["MEL", "NV"][i % 2], lesion_id=f"HAM_{i:02d}")
    for path in isic_layout.folder.glob("*.jpg"):  # bigger, distinct pictures than the fixture's 12 px noise
        write_image(path, seed=hash(path.stem) % 10_000, size=64)
    return isic_layout


def clinic(tmp_path: Path, training) -> dict:
    """A labelled folder: five new images, one copy of a training image under a new name (hash), one image
    named like a training image (id), one class without a mapping. (A folder's lesion ids are its own,
    ``clinic_{id}``: only HAM10000 shares ISIC's lesion ids, tested below.)"""
    images = tmp_path / "clinic" / "images"
    rows = ["image,diagnosis,patient,lesion"]
    for i in range(5):
        write_image(images / f"new{i}.png", seed=900 + i, size=64)
        rows.append(f"new{i}.png,{['melanoma', 'nevus'][i % 2]},p{i // 2},c{i}")
    reencode(training.folder / "ISIC_030.jpg", images / "planted.jpg")
    rows.append("planted.jpg,nevus,p9,c9")
    write_image(images / "ISIC_050.png", seed=950, size=64)
    rows.append("ISIC_050.png,melanoma,p8,c8")
    write_image(images / "rash.png", seed=952, size=64)
    rows.append("rash.png,psoriasis,p6,c6")
    (tmp_path / "clinic" / "labels.csv").write_text("\n".join(rows) + "\n")
    return {"adapter": "labelled_folder", "images": str(images), "labels": str(tmp_path / "clinic" / "labels.csv"),
            "columns": {"image": "image", "label": "diagnosis", "patient_id": "patient", "lesion_id": "lesion"},
            "mapping": {"melanoma": "MEL", "nevus": "NV"}, "unmapped": "near_ood"}


def build(training, folders, labels_cfg, sources, bits=4):
    ns, ood = folders
    return build_manifest_tables(**layout(training.write()), not_skin_dir=ns, ood_dir=ood, labels_cfg=labels_cfg,
                                 near_duplicate_bits=bits, sources=sources)


def rows_of(manifest, prefix):
    return manifest[manifest["image_id"].str.startswith(prefix)].set_index("image_id")


def test_a_planted_training_image_is_removed_from_the_test_side_and_counted(training, folders, labels_cfg, tmp_path):
    cfg = clinic(tmp_path, training)
    manifest, counts, overlap = build(training, folders, labels_cfg, {"clinic": (read_source("clinic", cfg), cfg)})
    ext = rows_of(manifest, "clinic__")
    assert ext.loc["clinic__planted.jpg", "status"] == "excluded"
    assert "near-duplicate" in ext.loc["clinic__planted.jpg", "reason"] and "ISIC_030" in ext.loc["clinic__planted.jpg", "reason"]
    assert ext.loc["clinic__ISIC_050.png", "status"] == "excluded"  # named like training image ISIC_050
    assert overlap.set_index("image_id")["match"].to_dict() == {
        "clinic__ISIC_050.png": "image_id", "clinic__planted.jpg": "phash"}
    assert overlap.set_index("image_id").loc["clinic__planted.jpg", "twin_id"] == "ISIC_030"
    # the training side is untouched: every ISIC image stays ok
    assert (rows_of(manifest, "ISIC_")["status"] == "ok").all()
    row = counts.set_index("source").loc["external:clinic"]
    assert (row["found"], row["used"], row["excluded"], row["rejected"], row["cross_source_overlap"]) == (8, 6, 2, 0, 2)
    assert (counts["found"] == counts["used"] + counts["rejected"] + counts["excluded"]).all()


def test_without_hashes_the_copy_is_not_found_but_the_id_is(training, folders, labels_cfg, tmp_path):
    cfg = clinic(tmp_path, training)
    manifest, _, overlap = build(training, folders, labels_cfg, {"clinic": (read_source("clinic", cfg), cfg)}, bits=None)
    assert overlap["match"].tolist() == ["image_id"]
    assert rows_of(manifest, "clinic__").loc["clinic__planted.jpg", "status"] == "ok"


def test_mapping_groups_and_the_unmapped_class(training, folders, labels_cfg, tmp_path):
    cfg = clinic(tmp_path, training)
    manifest, _, _ = build(training, folders, labels_cfg, {"clinic": (read_source("clinic", cfg), cfg)})
    ext = rows_of(manifest, "clinic__")
    assert ext.loc["clinic__new0.png", ["lesion_class", "malignancy", "source", "dataset", "original_label"]].tolist() == [
        "MEL", "malignant", "external", "clinic", "melanoma"]
    assert ext.loc["clinic__new1.png", ["lesion_class", "malignancy"]].tolist() == ["NV", "benign"]
    # groups: patient (the default) where given; two images of patient p0 share one group
    assert ext.loc["clinic__new0.png", "group_id"] == ext.loc["clinic__new1.png", "group_id"] == "clinic_p0"
    assert ext.loc["clinic__rash.png", ["status", "lesion_class", "category"]].tolist() == ["ok", "", "clinic:psoriasis"]
    manifest, _, _ = build(training, folders, labels_cfg,
                           {"clinic": (read_source("clinic", cfg), {**cfg, "unmapped": "exclude", "groups": "lesion"})})
    ext = rows_of(manifest, "clinic__")
    assert ext.loc["clinic__rash.png", "status"] == "excluded" and "no mapping" in ext.loc["clinic__rash.png", "reason"]
    assert ext.loc["clinic__new0.png", "group_id"] == "clinic_c0"


def test_a_mapping_outside_the_study_classes_names_the_key(training, folders, labels_cfg, tmp_path):
    cfg = clinic(tmp_path, training)
    with pytest.raises(ValueError, match=r"data\.sources\.clinic\.mapping.*XYZ"):
        build(training, folders, labels_cfg, {"clinic": (read_source("clinic", cfg), {**cfg, "mapping": {"nevus": "XYZ"}})})


def test_splits_put_external_rows_on_their_own_split_and_leave_internal_splits_unchanged(training, folders, labels_cfg, tmp_path):
    write_image(folders[1] / "other" / "scene.png", seed=300)  # a second OOD category: val and test each get one
    cfg = clinic(tmp_path, training)
    without, _, _ = build(training, folders, labels_cfg, {})
    with_source, _, _ = build(training, folders, labels_cfg, {"clinic": (read_source("clinic", cfg), cfg)})
    before = make_splits(without, SPLITS).set_index("image_id")
    after = make_splits(with_source, SPLITS, shift=["clinic"]).set_index("image_id")
    assert after.loc[before.index, "split"].equals(before["split"])
    ext = after[after.index.str.startswith("clinic__")]
    assert set(ext["split"]) == {"external:clinic"}
    assert ext.loc["clinic__rash.png", "ood_level"] == "near"
    assert set(ext.drop("clinic__rash.png")["ood_level"]) == {"shift"}
    assert set(make_splits(with_source, SPLITS).set_index("image_id").loc[ext.index, "ood_level"]) == {"", "near"}


def test_external_rows_are_skin_with_their_mapped_class_and_no_lesion_label_when_unmapped():
    rows = pd.DataFrame({"image_id": ["a", "b", "c"], "source": ["external", "external", "not_skin"],
                         "lesion_class": ["BCC", "", ""], "malignancy": ["malignant", "", ""]})
    tasks = task_classes({"lesion_classes": ["MEL", "NV", "BCC"]})
    labels = label_matrix(rows, tasks)
    assert labels[:, 0].tolist() == [1, 1, 0]    # skin, skin, not_skin
    assert labels[:, 1].tolist() == [2, -1, -1]  # BCC; none for the unmapped class and for not-skin
    assert labels[:, 2].tolist() == [1, -1, -1]


def ham_root(tmp_path: Path, training) -> Path:
    """HAM10000 in its official layout: ISIC_000 as in ISIC 2019 (same id), ISIC_7777 a re-encoded copy of
    training image ISIC_041 under another id, ISIC_6666 a new picture of training lesion HAM_07, ISIC_8888 new."""
    root = tmp_path / "ham"
    part = root / "HAM10000_images_part_1"
    reencode(training.folder / "ISIC_000.jpg", part / "ISIC_000.jpg")
    reencode(training.folder / "ISIC_041.jpg", part / "ISIC_7777.jpg")
    write_image(part / "ISIC_8888.jpg", seed=4242, size=64)
    write_image(part / "ISIC_6666.jpg", seed=4343, size=64)
    (root / "HAM10000_metadata.csv").write_text(
        "lesion_id,image_id,dx,dx_type,age,sex,localization\n"
        "HAM_9000,ISIC_000,mel,histo,50.0,male,back\n"
        "HAM_9001,ISIC_7777,nv,follow_up,40.0,female,trunk\n"
        "HAM_9002,ISIC_8888,bkl,histo,60.0,male,face\n"
        "HAM_07,ISIC_6666,nv,follow_up,30.0,female,back\n")
    return root


def test_ham10000_overlap_with_isic2019_by_id_lesion_and_hash(training, folders, labels_cfg, tmp_path):
    cfg = {"adapter": "ham10000", "root": str(ham_root(tmp_path, training))}
    table = read_source("ham", cfg)
    assert table.equals(read_ham10000(cfg["root"]).assign(dataset="ham"))
    manifest, counts, overlap = build(training, folders, labels_cfg, {"ham": (table, cfg)})
    assert overlap.set_index("image_id")[["match", "twin_id"]].to_dict("index") == {
        "ham__ISIC_000": {"match": "image_id", "twin_id": "ISIC_000"},
        "ham__ISIC_7777": {"match": "phash", "twin_id": "ISIC_041"},
        "ham__ISIC_6666": {"match": "lesion_id", "twin_id": "ISIC_070"}}
    ext = rows_of(manifest, "ham__")
    assert ext.loc["ham__ISIC_8888", ["status", "lesion_class"]].tolist() == ["ok", "BKL"]  # akiec/bkl mapping default
    assert counts.set_index("source").loc["external:ham", ["found", "used", "excluded"]].tolist() == [4, 1, 3]


def test_split_test_keeps_only_the_official_test_split(training, folders, labels_cfg, tmp_path):
    root = ham_root(tmp_path, training)
    cfg = {"adapter": "ham10000", "root": str(root), "split": "test"}
    with pytest.raises(ValueError, match=r"data\.sources\.ham\.split: test"):
        build(training, folders, labels_cfg, {"ham": (read_source("ham", cfg), cfg)})
    write_image(root / "ISIC2018_Task3_Test_Input" / "ISIC_9999.jpg", seed=77, size=64)
    (root / "ISIC2018_Task3_Test_GroundTruth.csv").write_text(
        "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\nISIC_9999,0.0,0.0,1.0,0.0,0.0,0.0,0.0\n")
    manifest, _, _ = build(training, folders, labels_cfg, {"ham": (read_source("ham", cfg), cfg)})
    ext = rows_of(manifest, "ham__")
    assert ext.loc["ham__ISIC_9999", ["status", "lesion_class"]].tolist() == ["ok", "BCC"]
    assert "not test" in ext.loc["ham__ISIC_8888", "reason"]
    assert ext[ext["status"] == "ok"].index.tolist() == ["ham__ISIC_9999"]
