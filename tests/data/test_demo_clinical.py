"""The demo's clinical-photograph source: read by the labelled-folder adapter, a vocabulary with one
unmapped diagnosis, a planted training image, deterministic bytes, a look unlike the dermoscopic demo."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from samderm.data import isic
from samderm.data.demo import generate_demo, lesion_image
from samderm.data.demo_clinical import (DEFAULT_IMAGES, DEMO_CLINICAL_MAPPING, DIAGNOSES, FITZPATRICK_TONES, PLANTED,
                                        clinical_image, make_clinical_source)
from samderm.data.near_duplicates import perceptual_hash
from samderm.data.sources.labelled_folder import read_labelled_folder
from samderm.data.sources.taxonomy import apply_mapping

CFG = {"seed": 0, "image_size": 128, "images": DEFAULT_IMAGES, "images_per_patient": 3}
COLUMNS = {"image": "image", "label": "diagnosis", "patient_id": "patient"}


def _digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _brightness(path_or_image):
    image = Image.open(path_or_image) if not isinstance(path_or_image, Image.Image) else path_or_image
    return np.asarray(image.convert("L"), float)


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    """The first image of a tiny dermoscopic demo study (ISIC layout, so its class can be read)."""
    root = tmp_path_factory.mktemp("isic")
    generate_demo(root / "isic2019", root / "not_skin", root / "ood",
                  {"seed": 1, "image_size": 64, "class_counts": {"MEL": 2, "BCC": 2}, "not_skin": 0, "ood": 0})
    return sorted((root / "isic2019" / isic.IMAGE_FOLDER).glob("*.jpg"))[0]


@pytest.fixture(scope="module")
def clinic(tmp_path_factory, plant):
    out = tmp_path_factory.mktemp("clinic")
    return out, make_clinical_source(out, CFG, plant=plant)


def test_the_labelled_folder_adapter_reads_every_image_and_patient(clinic, plant):
    out, written = clinic
    table = read_labelled_folder("clinic", out / "images", out / "labels.csv", COLUMNS)
    files = sorted(p.name for p in (out / "images").iterdir())
    assert len(table) == len(files) == sum(DEFAULT_IMAGES.values()) + 1
    assert (table["path"] != "").all() and sorted(table["image_id"]) == files
    generated = table[table["image_id"] != PLANTED]
    assert generated["original_label"].value_counts().to_dict() == DEFAULT_IMAGES
    per_patient = generated.groupby("patient_id")
    assert per_patient.size().between(1, CFG["images_per_patient"]).all()
    assert (per_patient["meta_fitzpatrick"].nunique() == 1).all()  # one type per patient
    assert (per_patient[["meta_age", "meta_sex"]].nunique() == 1).all().all()
    assert set(generated["meta_fitzpatrick"].astype(int)) == set(range(1, 7))  # every type dealt
    # the file written is the table returned
    assert pd.read_csv(out / "labels.csv").astype(str).equals(written.drop(columns="study_class").astype(str))


def test_mapping_leaves_exactly_the_psoriasis_images_unmapped(clinic):
    out, written = clinic
    table = read_labelled_folder("clinic", out / "images", out / "labels.csv", COLUMNS)
    mapped, counts = apply_mapping(table, DEMO_CLINICAL_MAPPING, "exclude")
    unmapped = mapped[mapped["mapping"] != "mapped"]
    assert set(unmapped["original_label"]) == {"psoriasis"} and len(unmapped) == DEFAULT_IMAGES["psoriasis"]
    assert (unmapped["mapping"] == "unmapped_excluded").all()
    assert set(DIAGNOSES) - set(DEMO_CLINICAL_MAPPING) == {"psoriasis"}
    assert (written.set_index("image")["study_class"] == mapped.set_index("image_id")["lesion_class"]).all()


def test_the_planted_copy_has_other_bytes_but_a_near_hash_a_label_and_a_patient_of_its_own(clinic, plant):
    out, written = clinic
    copy = out / "images" / PLANTED
    assert copy.read_bytes() != plant.read_bytes()
    with Image.open(plant) as a, Image.open(copy) as b:
        assert a.size == b.size
        bits = bin(int(perceptual_hash(a), 16) ^ int(perceptual_hash(b), 16)).count("1")
    assert bits <= 4
    row = written.set_index("image").loc[PLANTED]
    cls = isic.read_ground_truth(plant.parent.parent / isic.GROUND_TRUTH)[0][plant.stem]
    assert DEMO_CLINICAL_MAPPING[row["diagnosis"]] == cls  # MEL or BCC: both have a diagnosis
    assert (written["patient"] == row["patient"]).sum() == 1


def test_a_plant_without_ground_truth_is_a_nevus(tmp_path, plant):
    lone = tmp_path / "lone.jpg"
    lone.write_bytes(plant.read_bytes())
    table = make_clinical_source(tmp_path / "out", {**CFG, "image_size": 32, "images": {"nevus": 1}}, plant=lone)
    assert table.set_index("image").loc[PLANTED, "diagnosis"] == "nevus"


def test_two_generations_are_byte_identical_and_the_seed_matters(clinic, plant, tmp_path):
    out, _ = clinic
    again = tmp_path / "again"
    make_clinical_source(again, CFG, plant=plant)
    assert _digests(again) == _digests(out)
    other = tmp_path / "other"
    make_clinical_source(other, {**CFG, "seed": 1}, plant=plant)
    assert _digests(other).keys() == _digests(out).keys() and _digests(other) != _digests(out)


def _darkest_corner(image):
    """The darkest 1/8-side corner square over the image's median brightness: ~1/6 in a dermoscope's dark field."""
    pixels = _brightness(image)
    k = pixels.shape[0] // 8
    corners = [pixels[:k, :k], pixels[:k, -k:], pixels[-k:, :k], pixels[-k:, -k:]]
    return min(c.mean() for c in corners) / np.median(pixels)


def test_the_look_differs_from_the_dermoscopic_demo():
    size, classes = 96, list(DEMO_CLINICAL_MAPPING.values()) * 2
    dermoscopic = [lesion_image(c, ("lesion", i), ("image", i), size) for i, c in enumerate(classes)]
    clinical = [clinical_image(d, FITZPATRICK_TONES[i % 6], 0, f"photo{i}", size) for i, d in enumerate(list(DIAGNOSES) * 2)]
    # the lesion fills far less of a clinical photograph (wide field of view)
    derm_area = [np.asarray(m).mean() / 255 for _, m in dermoscopic]
    clin_area = [np.asarray(m).mean() / 255 for _, m in clinical]
    assert min(derm_area) > 0.12 and max(clin_area) < 0.1 and 0 < min(clin_area)
    # half the dermoscopic pictures have the dark contact-lens field in their corners; no clinical one has
    derm_corner = [_darkest_corner(im) for im, _ in dermoscopic]
    clin_corner = [_darkest_corner(im) for im, _ in clinical]
    assert sum(r < 0.3 for r in derm_corner) >= 2 and min(clin_corner) > 0.5


def test_darker_fitzpatrick_types_have_darker_skin(clinic):
    out, written = clinic
    generated = written[written["image"] != PLANTED]
    ring = np.ones((CFG["image_size"],) * 2, bool)
    ring[8:-8, 8:-8] = False  # the frame's edge: skin, no lesion
    border = generated.assign(brightness=[_brightness(out / "images" / f)[ring].mean() for f in generated["image"]])
    by_type = border.groupby("fitzpatrick")["brightness"].mean()
    assert list(by_type.index) == [1, 2, 3, 4, 5, 6] and by_type.is_monotonic_decreasing and by_type.is_unique
    # one tone per patient: their images' edges differ less than neighbouring types do
    within = border.groupby("patient")["brightness"].agg(lambda b: b.max() - b.min()).max()
    assert within < -np.diff(by_type.to_numpy()).min()


def test_the_images_of_one_patient_are_drawn_on_one_skin_tone(tmp_path, monkeypatch):
    from samderm.data import demo_clinical

    tones, draw = {}, demo_clinical.clinical_image

    def recording(diagnosis, tone, seed, name, size):
        tones[name] = tuple(tone)
        return draw(diagnosis, tone, seed, name, size)
    monkeypatch.setattr(demo_clinical, "clinical_image", recording)
    table = make_clinical_source(tmp_path, {**CFG, "image_size": 32})
    per_patient = table.assign(tone=table["image"].map(tones)).groupby("patient")["tone"].nunique()
    assert (per_patient == 1).all() and len(set(tones.values())) == table["patient"].nunique()


def test_a_study_without_a_class_leaves_its_diagnosis_without_study_class(tmp_path):
    cfg = {**CFG, "image_size": 32, "images": {"squamous cell carcinoma": 2, "melanoma": 1}}
    table = make_clinical_source(tmp_path, cfg, classes=["MEL", "NV"])
    assert table.groupby("diagnosis")["study_class"].first().to_dict() == {"melanoma": "MEL", "squamous cell carcinoma": ""}


@pytest.mark.parametrize("bad, message", [({"sed": 0}, "unknown key"), ({"images": {"eczema": 1}}, "unknown diagnosis"),
                                          ({"image_size": 16}, "image_size"), ({"images_per_patient": 0}, "images_per_patient")])
def test_a_bad_config_is_refused_naming_the_key(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        make_clinical_source(tmp_path, {**CFG, **bad})
