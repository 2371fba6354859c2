"""A generated external test source for the demo: clinical photographs in a labelled folder.

``make_clinical_source`` writes ``out_dir/images/clinic_0001.jpg``… and ``out_dir/labels.csv``
(``image,diagnosis,patient,fitzpatrick,age,sex,site``), the layout that
``samderm.data.sources.labelled_folder.read_labelled_folder`` reads with
``{"image": "image", "label": "diagnosis", "patient_id": "patient"}``.

Where it deliberately differs from the dermoscopic demo (``samderm.data.demo``), so that heads
trained there meet a domain shift on it:

- vocabulary: plain-English diagnoses, mapped to the study's classes by ``DEMO_CLINICAL_MAPPING``
  (the config repeats it); ``psoriasis`` has no study class (unmapped: excluded or near-OOD);
- look: a wide field of view (the lesion spans about a quarter of the frame, not 60 %), the
  patient's skin tone with mottled texture and a light gradient from one side, soft focus and
  camera grain, no dark round field of a contact dermoscope. The lesion itself is drawn by
  ``demo.lesion_image`` (the same per-class colour, shape and texture), smaller and tinted by the
  patient's skin, so the classes stay recognisable but harder;
- patients: each has 1 to ``images_per_patient`` images (different lesions, no lesion_id), one
  Fitzpatrick type written as an integer 1 (I, lightest) to 6 (VI, darkest), one skin tone drawn
  from that type and shared by all their images, an age (20 to 85, in steps of 5) and a sex.

``cfg`` (the config's ``data.demo.clinical``):

- ``seed`` (int, default 0): every picture is drawn from ``demo.rng_for(seed, ...)``; the same cfg
  gives byte-identical files;
- ``image_size`` (px, default 128, at least 32): square images;
- ``images`` (diagnosis -> number of images, default ``DEFAULT_IMAGES``): keys from
  ``DIAGNOSES``;
- ``images_per_patient`` (int, default 3, at least 1): the most images one patient has.

``plant``: an image of the training source (a dermoscopic demo image). It is decoded and saved
again as ``clinic_planted.jpg`` (JPEG quality 95, same size: other bytes, pHash within a few
bits), a patient of its own, labelled with the diagnosis of its ISIC class when the ISIC ground
truth CSV sits beside its folder (``ISIC_2019_Training_Input/..``) and the class has one, else
``nevus``. It exists to be found by the cross-source overlap check and removed from the test side.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from samderm.data import isic
from samderm.data.demo import LOOK_ALIKE, SITES, SKIN_TONES, lesion_image, rng_for
from samderm.data.labels import ISIC_CLASSES

log = logging.getLogger(__name__)

DEMO_CLINICAL_MAPPING = {
    "melanoma": "MEL",
    "nevus": "NV",
    "basal cell carcinoma": "BCC",
    "actinic keratosis": "AK",
    "seborrheic keratosis": "BKL",
    "squamous cell carcinoma": "SCC",
}
UNMAPPED_DIAGNOSES = ("psoriasis",)  # no study class: exercises the taxonomy's exclude / near_ood
DIAGNOSES = (*DEMO_CLINICAL_MAPPING, *UNMAPPED_DIAGNOSES)
DEFAULT_IMAGES = {"melanoma": 8, "nevus": 12, "basal cell carcinoma": 6, "actinic keratosis": 5,
                  "seborrheic keratosis": 6, "squamous cell carcinoma": 5, "psoriasis": 6}
CLINICAL_KEYS = {"seed", "image_size", "images", "images_per_patient"}
COLUMNS = ["image", "diagnosis", "patient", "fitzpatrick", "age", "sex", "site"]
PLANTED = "clinic_planted.jpg"
PLANT_FALLBACK = "nevus"
JPEG_QUALITY = 90  # the dermoscopic demo saves at 92; the planted copy at 95
PLANT_QUALITY = 95

# skin background per Fitzpatrick type I..VI, lightest to darkest (RGB)
FITZPATRICK_TONES = np.array([[245, 214, 194], [228, 188, 160], [204, 158, 124],
                              [168, 121, 88], [124, 86, 60], [82, 56, 42]], float)
DEMO_SKIN = SKIN_TONES.mean(axis=0)  # the dermoscopic demo's average skin: lesions were drawn against it
LESION_SPAN = (0.42, 0.55)  # the demo lesion's square as a share of the frame: the lesion spans ~1/4 of it
PSORIASIS = (205, 92, 86)  # salmon-red plaque colour


def _validate(cfg: Mapping[str, Any]) -> None:
    unknown = set(cfg) - CLINICAL_KEYS
    if unknown:
        raise ValueError(f"data.demo.clinical: unknown key(s) {sorted(unknown)}; known: {sorted(CLINICAL_KEYS)}")
    bad = [d for d in cfg.get("images", {}) if d not in DIAGNOSES]
    if bad:
        raise ValueError(f"data.demo.clinical.images: unknown diagnosis(es) {bad}; known: {list(DIAGNOSES)}")
    if any(int(n) < 0 for n in cfg.get("images", {}).values()):
        raise ValueError("data.demo.clinical.images: counts must be >= 0")
    if int(cfg.get("image_size", 128)) < 32:
        raise ValueError("data.demo.clinical.image_size: must be >= 32")
    if int(cfg.get("images_per_patient", 3)) < 1:
        raise ValueError("data.demo.clinical.images_per_patient: must be >= 1")


def patient_tone(fitzpatrick: int, rng: np.random.Generator) -> np.ndarray:
    """One patient's skin colour: the type's tone with a small per-channel variation."""
    return FITZPATRICK_TONES[fitzpatrick - 1] * rng.uniform(0.96, 1.04, 3)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size
    return x, y


def _skin_background(tone: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Mottled skin (coarse blotches and pores) of one tone; no dermoscope circle."""
    cells = int(rng.integers(6, 12))
    blotches = np.asarray(Image.fromarray(rng.uniform(0.93, 1.07, (cells, cells)).astype(np.float32), mode="F")
                          .resize((size, size), Image.BICUBIC))
    pores = rng.normal(0, 0.025, (size, size))
    return tone[None, None, :] * (blotches + pores)[..., None]


def _lesion_layer(cls: str, seed: int, name: str, tone: np.ndarray, size: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(RGB, alpha) over the frame: the demo's lesion of ``cls``, drawn small and placed off centre,
    tinted towards the patient's skin (pigment on darker skin looks darker)."""
    span = int(round(size * rng.uniform(*LESION_SPAN)))
    patch, mask = lesion_image(cls, (seed, "clinic lesion", name), (seed, "clinic image", name), span,
                               look_alike=LOOK_ALIKE, label_noise=0.0)
    px, py = _grid(span)
    # keep the lesion, not the demo's skin around it nor its dermoscope circle: erode, cut at r < 0.46
    inside = np.asarray(mask.filter(ImageFilter.MinFilter(3)), float) / 255 * (np.hypot(px - 0.5, py - 0.5) < 0.46)
    alpha = np.asarray(Image.fromarray((inside * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8)), float) / 255
    colour = np.asarray(patch, float) * (0.75 + 0.25 * tone / DEMO_SKIN)[None, None, :]

    rgb, full_alpha = np.zeros((size, size, 3)), np.zeros((size, size))
    left, top = (rng.uniform(0.3, 0.7, 2) * size - span / 2).round().astype(int).clip(0, size - span)
    rgb[top:top + span, left:left + span] = colour
    full_alpha[top:top + span, left:left + span] = alpha
    return rgb, full_alpha


def _psoriasis_layer(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB, alpha): 2-4 sharply bordered salmon-red plaques with silvery scale (no demo class has this look)."""
    x, y = _grid(size)
    reach = np.zeros((size, size))
    for _ in range(int(rng.integers(2, 5))):
        (cx, cy), (rx, ry) = rng.uniform(0.3, 0.7, 2), rng.uniform(0.05, 0.12, 2)
        reach = np.maximum(reach, 1 - np.hypot((x - cx) / rx, (y - cy) / ry))
    alpha = np.clip(reach * 8, 0, 1)
    scale = (rng.random((size, size)) > 0.7) * (reach > 0.25) * 55  # silver scale on the plaques' centres
    rgb = np.array(PSORIASIS, float) + rng.normal(0, 6, 3) + scale[..., None]
    return rgb, alpha


def clinical_image(diagnosis: str, tone: np.ndarray, seed: int, name: str, size: int) -> tuple[Image.Image, Image.Image]:
    """One clinical photograph of a lesion of ``diagnosis`` on skin of ``tone`` and its binary mask.

    Unlike ``demo.lesion_image``: the lesion is small in a wide frame, on the patient's own skin,
    lit unevenly from one side, softly focused and grainy, with no dermoscope circle."""
    rng = rng_for(seed, "clinic photo", name)
    pixels = _skin_background(tone, rng, size)
    if diagnosis in DEMO_CLINICAL_MAPPING:
        lesion, alpha = _lesion_layer(DEMO_CLINICAL_MAPPING[diagnosis], seed, name, tone, size, rng)
    else:
        lesion, alpha = _psoriasis_layer(rng, size)
    pixels = pixels * (1 - alpha[..., None]) + lesion * alpha[..., None]
    x, y = _grid(size)
    angle, strength = rng.uniform(0, 2 * np.pi), rng.uniform(0.12, 0.28)
    light = 1 + 2 * strength * ((x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle))  # a lamp to one side
    pixels = pixels * light[..., None] * rng.uniform(0.95, 1.05, 3) + rng.normal(0, rng.uniform(2, 5), pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.0)))  # handheld camera, no contact lens
    return image, Image.fromarray(((alpha > 0.5) * 255).astype(np.uint8), mode="L")


def clinical_plan(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One dict per image (image, diagnosis, patient, fitzpatrick, age, sex, site), in file order.

    File numbers follow a seeded order, so names do not reveal the diagnosis; consecutive files are
    grouped into patients of 1..images_per_patient images; Fitzpatrick types are dealt I..VI in
    turn over the patients in a seeded order, so every type appears once there are six patients."""
    seed = int(cfg.get("seed", 0))
    counts = cfg.get("images", DEFAULT_IMAGES)
    diagnoses = [d for d in DIAGNOSES for _ in range(int(counts.get(d, 0)))]  # fixed order: YAML order does not matter
    order = rng_for(seed, "clinic ids").permutation(len(diagnoses))
    most, grouping = int(cfg.get("images_per_patient", 3)), rng_for(seed, "clinic patients")
    sizes: list[int] = []
    while sum(sizes) < len(diagnoses):
        sizes.append(min(int(grouping.integers(1, most + 1)), len(diagnoses) - sum(sizes)))
    types = rng_for(seed, "clinic fitzpatrick").permutation([k % 6 + 1 for k in range(len(sizes))])
    plan, number = [], 0
    for p, n in enumerate(sizes):
        person = rng_for(seed, "clinic patient", p)
        age, sex = 5 * int(person.integers(4, 18)), ["male", "female"][int(person.integers(2))]
        for _ in range(n):
            plan.append({"image": f"clinic_{number + 1:04d}.jpg", "diagnosis": diagnoses[order[number]],
                         "patient": f"C{p + 1:03d}", "fitzpatrick": int(types[p]), "age": age, "sex": sex,
                         "site": SITES[int(person.integers(len(SITES)))]})
            number += 1
    return plan


def planted_diagnosis(plant: Path) -> str:
    """The diagnosis of the planted image's ISIC class, read from the ground truth beside its folder;
    ``nevus`` when there is none or its class has no diagnosis here (DF, VASC, UNK)."""
    ground_truth = plant.parent.parent / isic.GROUND_TRUTH
    if not ground_truth.is_file():
        return PLANT_FALLBACK
    cls = isic.read_ground_truth(ground_truth)[0].get(plant.stem, "")
    return {c: d for d, c in DEMO_CLINICAL_MAPPING.items()}.get(cls, PLANT_FALLBACK)


def _plant(plant: Path, images: Path, seed: int, patient: str) -> dict[str, Any]:
    """Re-encode ``plant`` as ``clinic_planted.jpg``; its labels row (Fitzpatrick: the type whose tone
    is nearest the picture's median colour)."""
    with Image.open(plant) as img:
        picture = img.convert("RGB")
    picture.save(images / PLANTED, quality=PLANT_QUALITY)
    median = np.median(np.asarray(picture, float).reshape(-1, 3), axis=0)
    person = rng_for(seed, "clinic planted patient")
    return {"image": PLANTED, "diagnosis": planted_diagnosis(plant), "patient": patient,
            "fitzpatrick": int(np.argmin(np.linalg.norm(FITZPATRICK_TONES - median, axis=1))) + 1,
            "age": 5 * int(person.integers(4, 18)), "sex": ["male", "female"][int(person.integers(2))],
            "site": SITES[int(person.integers(len(SITES)))]}


def make_clinical_source(out_dir: str | Path, cfg: Mapping[str, Any], classes: Sequence[str] = ISIC_CLASSES,
                         plant: str | Path | None = None) -> pd.DataFrame:
    """Write ``out_dir/images/*.jpg`` and ``out_dir/labels.csv``; return the labels table as written
    (``COLUMNS``, ``fitzpatrick`` and ``age`` as ints) plus ``study_class``: the diagnosis's class
    when ``DEMO_CLINICAL_MAPPING`` maps it into ``classes`` (the study's lesion classes), else ""."""
    _validate(cfg)
    seed, size = int(cfg.get("seed", 0)), int(cfg.get("image_size", 128))
    out_dir = Path(out_dir)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    plan = clinical_plan(cfg)
    tones = {}
    for row in plan:
        if row["patient"] not in tones:  # one tone per patient, shared by all their images
            tones[row["patient"]] = patient_tone(row["fitzpatrick"], rng_for(seed, "clinic tone", row["patient"]))
        image, _ = clinical_image(row["diagnosis"], tones[row["patient"]], seed, row["image"], size)
        image.save(images / row["image"], quality=JPEG_QUALITY)
    if plant is not None:
        plan.append(_plant(Path(plant), images, seed, f"C{len(tones) + 1:03d}"))
    with open(out_dir / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(plan)
    table = pd.DataFrame(plan, columns=COLUMNS)
    table["study_class"] = [c if c in classes else "" for c in table["diagnosis"].map(DEMO_CLINICAL_MAPPING).fillna("")]
    log.info("demo clinical source: %d images of %d patients (%s)%s", len(table), table["patient"].nunique(),
             ", ".join(f"{d} {n}" for d, n in table["diagnosis"].value_counts().sort_index().items()),
             f", planted copy of {Path(plant).name}" if plant is not None else "")
    return table
