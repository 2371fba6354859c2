"""Manifest: every bad input gets a row with a reason (or a clear error), counts reconcile."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samderm.data.isic import layout
from samderm.data.manifest import BadInputError, build_manifest, write_manifest
from samderm.io import read_tsv

from .conftest import write_image


def _build(isic, folders, labels_cfg, **kw):
    ns, ood = folders
    kw.setdefault("bad_images", "skip")
    return build_manifest(**layout(isic.write()), not_skin_dir=ns, ood_dir=ood, labels_cfg=labels_cfg, **kw)


def _status(manifest, image_id):
    row = manifest.set_index("image_id").loc[image_id]
    return row["status"], row["reason"]


def _reconciles(counts):
    return (counts["found"] == counts["used"] + counts["rejected"] + counts["excluded"]).all()


def test_clean_layout_gives_labels_groups_and_counts(isic_layout, folders, labels_cfg):
    isic_layout.add("ISIC_1", "MEL", "L1").add("ISIC_2", "MEL", "L1").add("ISIC_3", "NV", "").add("ISIC_4", "AK", "L4")
    manifest, counts = _build(isic_layout, folders, labels_cfg)
    m = manifest.set_index("image_id")
    assert (m["status"] == "ok").all()
    assert m.loc["ISIC_1", "malignancy"] == "malignant" and m.loc["ISIC_3", "malignancy"] == "benign"
    assert m.loc["ISIC_4", "malignancy"] == "malignant"  # ak_side
    assert m.loc["ISIC_2", "lesion_id"] == "L1" and m.loc["ISIC_3", "lesion_id"] == "solo_ISIC_3"
    assert m.loc["not_skin__tex0", "source"] == "not_skin" and m.loc["ood__sub__flower1", "source"] == "ood"
    assert m.loc["not_skin__tex0", "lesion_class"] == "" and m.loc["ood__sub__flower1", "lesion_id"].startswith("solo_")
    assert counts.set_index("source")["used"].to_dict() == {"lesion": 4, "not_skin": 2, "ood": 2}


def test_ak_side_benign_moves_ak(isic_layout, folders, labels_cfg):
    isic_layout.add("ISIC_4", "AK")
    labels_cfg["ak_side"] = "benign"
    manifest, _ = _build(isic_layout, folders, labels_cfg)
    assert manifest.set_index("image_id").loc["ISIC_4", "malignancy"] == "benign"


def test_every_bad_input_is_rejected_with_its_reason_and_counts_reconcile(isic_layout, folders, labels_cfg, tmp_path):
    lay = isic_layout
    lay.add("ok_1", "NV")
    lay.add("trunc", "NV")
    data = (lay.folder / "trunc.jpg").read_bytes()
    (lay.folder / "trunc.jpg").write_bytes(data[: len(data) // 2])
    lay.add("zero", "NV")
    (lay.folder / "zero.jpg").write_bytes(b"")
    lay.add("text", "NV")
    (lay.folder / "text.jpg").write_text("hello")
    lay.add("missing", "MEL", file=False)
    write_image(lay.folder / "unlisted.jpg")
    lay.add("noclass", None)
    lay.gt.append("twoclass," + ",".join(["1.0", "1.0"] + ["0.0"] * 7))
    write_image(lay.folder / "twoclass.jpg")
    lay.add("dup", "NV").add("dup", "MEL")
    lay.add("unk", "UNK")
    write_image(lay.folder / "twofiles.png")
    lay.add("twofiles", "NV")
    (lay.folder / "LICENSE.txt").write_text("not an image, not a row")
    manifest, counts = _build(lay, folders, labels_cfg)

    expected = {
        "trunc": "truncated", "zero": "zero-byte", "text": "not an image", "missing": "no image file",
        "unlisted": "not listed", "noclass": "no class", "twoclass": "2 classes", "dup": "listed 2 times",
        "twofiles": "several files",
    }
    for image_id, words in expected.items():
        status, reason = _status(manifest, image_id)
        assert status == "rejected" and words in reason.lower(), (image_id, reason)
    assert _status(manifest, "unk") == ("excluded", "UNK dropped (data.unk: drop)")
    assert _status(manifest, "ok_1")[0] == "ok"
    assert manifest["image_id"].is_unique
    lesion = counts.set_index("source").loc["lesion"]
    assert (lesion["found"], lesion["used"], lesion["rejected"], lesion["excluded"]) == (11, 1, 9, 1)
    assert _reconciles(counts)


def test_fail_policy_names_every_bad_file(isic_layout, folders, labels_cfg):
    isic_layout.add("a", "NV").add("b", "NV").add("c", "NV")
    (isic_layout.folder / "a.jpg").write_bytes(b"")
    (isic_layout.folder / "b.jpg").write_text("x")
    with pytest.raises(BadInputError) as err:
        _build(isic_layout, folders, labels_cfg, bad_images="fail")
    message = str(err.value)
    assert "2 bad input" in message and "a.jpg: zero-byte" in message and "b.jpg: not an image" in message
    assert "c.jpg" not in message


def test_unk_keep_makes_a_ninth_class_without_malignancy(isic_layout, folders, labels_cfg):
    isic_layout.add("u", "UNK")
    manifest, _ = _build(isic_layout, folders, labels_cfg, unk="keep")
    assert (manifest.set_index("image_id").loc["u", ["status", "lesion_class", "malignancy"]] == ["ok", "UNK", ""]).all()


def test_colour_modes_are_used_not_rejected(isic_layout, folders, labels_cfg):
    for name, img in {
        "gray": Image.new("L", (8, 8), 90), "rgba": Image.new("RGBA", (8, 8), (1, 2, 3, 100)),
        "wide": Image.fromarray(np.full((8, 8), 40000, np.uint16)), "cmyk": Image.new("CMYK", (8, 8), (0, 50, 50, 0)),
    }.items():
        isic_layout.add(name, "NV", file=False)
        img.save(isic_layout.folder / f"{name}.{'jpg' if name == 'cmyk' else 'png'}")
    manifest, _ = _build(isic_layout, folders, labels_cfg, bad_images="fail")
    assert (manifest["status"] == "ok").all()


def test_unknown_class_column_is_a_clear_error(isic_layout, folders, labels_cfg):
    isic_layout.add("a", "NV")
    isic_layout.gt[0] += ",XYZ"
    isic_layout.gt[1] += ",0.0"
    with pytest.raises(ValueError, match=r"GroundTruth.csv: unknown class column\(s\) \['XYZ'\]"):
        _build(isic_layout, folders, labels_cfg)


def test_same_file_as_not_skin_and_ood_is_refused(isic_layout, folders, labels_cfg):
    ns, ood = folders
    (ood / "copy_of_tex0.jpg").write_bytes((ns / "tex0.jpg").read_bytes())
    isic_layout.add("a", "NV")
    with pytest.raises(ValueError, match="copy_of_tex0.jpg has the same content as") as err:
        _build(isic_layout, folders, labels_cfg)
    assert str(ns) in str(err.value) and str(ood) in str(err.value)


def test_same_folder_for_not_skin_and_ood_is_refused(isic_layout, folders, labels_cfg):
    ns, _ = folders
    isic_layout.add("a", "NV")
    with pytest.raises(ValueError, match="is in both folders"):
        _build(isic_layout, (ns, ns), labels_cfg)


def test_mask_paths_come_from_the_masks_folder(isic_layout, folders, labels_cfg):
    isic_layout.add("a", "NV").add("b", "NV")
    write_image(isic_layout.root / "masks" / "a_mask.png")
    manifest, _ = _build(isic_layout, folders, labels_cfg, masks_dir=isic_layout.root / "masks")
    m = manifest.set_index("image_id")["mask_path"]
    assert m["a"].endswith("masks/a_mask.png") and m["b"] == ""


def test_written_files_follow_the_contract(isic_layout, folders, labels_cfg, tmp_path):
    isic_layout.add("a", "NV").add("b", "NV", file=False)
    manifest, counts = _build(isic_layout, folders, labels_cfg)
    out = tmp_path / "out"
    write_manifest(manifest, counts, out / "manifest.tsv", out / "rejected.tsv", out / "counts.tsv")
    assert read_tsv(out / "manifest.tsv").columns.tolist() == [
        "image_id", "path", "source", "lesion_class", "malignancy", "lesion_id", "status", "reason", "mask_path",
        "category", "group_id", "phash", "dataset", "original_label", "patient_id", "sex", "age", "site", "fitzpatrick"]
    assert read_tsv(out / "rejected.tsv")["image_id"].tolist() == ["b"]
    assert read_tsv(out / "counts.tsv").columns.tolist() == ["source", "found", "used", "rejected", "excluded",
                                                             "near_duplicate_merges"]


@pytest.mark.parametrize("labels_patch, message", [
    ({"benign": ["NV", "BKL", "DF"]}, r"\['VASC'\] are on neither side"),
    ({"benign": ["NV", "BKL", "DF", "VASC", "MEL"]}, "'MEL' is in both"),
    ({"benign": ["NV", "BKL", "DF", "VASC", "AK"]}, "labels.benign: lists AK but labels.ak_side is 'malignant'"),
    ({"ak_side": "maybe"}, "labels.ak_side"),
    ({"lesion_classes": ["MEL", "XX"]}, r"labels.lesion_classes: unknown class\(es\) \['XX'\]"),
    ({"malignant": ["MEL", "BCC", "SCC", "ZZ"]}, "labels.malignant: 'ZZ'"),
])
def test_bad_label_maps_name_the_key(isic_layout, folders, labels_cfg, labels_patch, message):
    isic_layout.add("a", "NV")
    with pytest.raises(ValueError, match=message):
        _build(isic_layout, folders, {**labels_cfg, **labels_patch})


def test_unlabeled_folder_rows_are_checked_like_the_others_and_counted(isic_layout, folders, labels_cfg, tmp_path):
    isic_layout.add("ISIC_1", "MEL")
    pool = tmp_path / "pool"
    write_image(pool / "a.jpg", seed=300)
    write_image(pool / "batch2" / "b.png", seed=301)
    (pool / "broken.jpg").write_bytes(b"not an image")
    manifest, counts = _build(isic_layout, folders, labels_cfg, unlabeled_dir=pool)
    rows = manifest[manifest["source"] == "unlabeled"].set_index("image_id")
    assert sorted(rows.index) == ["unlabeled__a", "unlabeled__batch2__b", "unlabeled__broken"]
    assert rows.loc["unlabeled__a", "status"] == "ok" and rows.loc["unlabeled__a", "lesion_class"] == ""
    assert rows.loc["unlabeled__broken", "status"] == "rejected" and rows.loc["unlabeled__broken", "reason"]
    assert counts.set_index("source").loc["unlabeled", ["found", "used", "rejected"]].tolist() == [3, 2, 1]
    assert _reconciles(counts)
    _, without = _build(isic_layout, folders, labels_cfg)
    assert "unlabeled" not in set(without["source"])  # no unlabeled folder, no row


def test_an_unlabeled_image_that_is_also_an_ood_image_is_refused(isic_layout, folders, labels_cfg, tmp_path):
    isic_layout.add("ISIC_1", "MEL")
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "copy.png").write_bytes((folders[1] / "sub" / "flower0.png").read_bytes())
    with pytest.raises(ValueError, match="both labelled and unlabeled"):
        _build(isic_layout, folders, labels_cfg, unlabeled_dir=pool)
