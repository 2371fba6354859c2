"""A generated demo study in the exact ISIC 2019 layout, plus not-skin and OOD folders
(the OOD folder in several kinds, one subfolder each: far OOD pictures and near OOD clinical skin)
and an unlabeled folder.

It exists to exercise the machinery end to end without a download; it produces no
clinical numbers. Every picture is drawn from a generator seeded by sha256(seed, name),
so two generations are byte-identical.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from samderm.data import isic
from samderm.data.hashing import stable_seed
from samderm.data.labels import ISIC_CLASSES, UNK
from samderm.logs import progress

log = logging.getLogger(__name__)

DEMO_KEYS = {"seed", "image_size", "class_counts", "images_per_lesion", "not_skin", "ood", "unlabeled", "look_alike",
             "label_noise", "clinical"}  # clinical: the external clinical-photo source (samderm.data.demo_clinical)
# defaults of data.demo.look_alike and data.demo.label_noise (config/schema.yaml): classes that overlap as real ones do
LOOK_ALIKE = 0.25
LABEL_NOISE = 0.05
UNLABELED_LESION_SHARE = 0.75  # the rest of the unlabeled folder: OOD kinds and not-skin pictures, as a real pool has
SKIN_TONES = np.array([[232, 190, 165], [215, 170, 140], [195, 145, 115], [170, 120, 90]], float)
SITES = ["anterior torso", "posterior torso", "lower extremity", "upper extremity", "head/neck", "palms/soles"]
# shipped inside the installed wheels: (package, file name); none is downloaded
NOT_SKIN_IMAGES = [("sklearn", "china.jpg"), ("skimage", "brick.png"), ("skimage", "grass.png"),
                   ("skimage", "gravel.png"), ("skimage", "camera.png"), ("skimage", "coffee.png"),
                   ("skimage", "chelsea.png"), ("skimage", "astronaut.png")]


def rng_for(*parts: Any) -> np.random.Generator:
    """A generator seeded by sha256 of the parts: stable across machines and runs."""
    return np.random.default_rng(stable_seed(*parts))


# ---- lesion appearance: (base colour, radius as a fraction of the image, shape irregularity, border width px)
LOOKS = {
    "MEL": ((70, 42, 32), 0.30, 0.16, 1.5),
    "NV": ((140, 92, 62), 0.26, 0.03, 1.5),
    "BCC": ((215, 150, 150), 0.27, 0.08, 3.0),
    "AK": ((200, 112, 100), 0.28, 0.10, 6.0),
    "BKL": ((172, 132, 86), 0.28, 0.06, 1.2),
    "DF": ((160, 110, 80), 0.17, 0.03, 5.0),
    "VASC": ((150, 30, 62), 0.22, 0.05, 1.2),
    "SCC": ((222, 182, 168), 0.29, 0.12, 4.0),
    UNK: ((120, 100, 90), 0.25, 0.08, 3.0),
}


def _texture(cls: str, rng: np.random.Generator, rad: np.ndarray, ang: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Per-pixel colour offset inside the lesion: what makes the classes look different."""
    size = rad.shape[0]
    out = np.zeros((size, size, 3))
    spots = lambda n, r: _spots(rng, xy, n, r)  # noqa: E731
    if cls == "MEL":  # blue-grey veil and dark globules, asymmetric
        out += (spots(3, 0.12) > 0)[..., None] * np.array([40, 60, 90])
        out -= (spots(12, 0.03) > 0)[..., None] * 45
    elif cls == "NV":  # regular pigment network
        waves = 2 * np.pi * size / rng.uniform(5, 7)  # a mesh every 5-7 pixels
        out -= ((np.sin(xy[0] * waves) * np.sin(xy[1] * waves)) > 0.3)[..., None] * 30
    elif cls == "BCC":  # arborising red vessels
        out += _vessels(rng, size)[..., None] * np.array([-20, -110, -100])
    elif cls == "AK":  # white rough scale
        out += (rng.random((size, size)) > 0.8)[..., None] * 70
    elif cls == "BKL":  # comedo-like dark and milia-like white dots
        out -= (spots(10, 0.035) > 0)[..., None] * 70
        out += (spots(6, 0.025) > 0)[..., None] * 70
    elif cls == "DF":  # central white patch, darker ring
        out += (rad < 0.45)[..., None] * np.array([75, 105, 125])
        out -= ((rad > 0.75) & (rad < 1.0))[..., None] * 25
    elif cls == "VASC":  # red-purple lacunae
        out -= (spots(8, 0.07) > 0)[..., None] * np.array([40, 10, 0])
    elif cls == "SCC":  # keratin centre and crust
        out += (rad < 0.35)[..., None] * np.array([15, 40, -5])
        out -= (spots(5, 0.04) > 0)[..., None] * np.array([100, 110, 120])
    return out


def _spots(rng, xy, n, radius):
    centres = rng.uniform(-0.25, 0.25, size=(n, 2))
    dist = np.min([np.hypot(xy[0] - cx, xy[1] - cy) for cx, cy in centres], axis=0)
    return dist < radius * rng.uniform(0.7, 1.3)


def _vessels(rng, size):
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(3):
        x, y = rng.uniform(0.35, 0.65, 2) * size
        for _ in range(6):
            nx, ny = x + rng.normal(0, size * 0.06), y + rng.normal(0, size * 0.06)
            draw.line([(x, y), (nx, ny)], fill=255, width=1)
            x, y = nx, ny
    return np.asarray(canvas) / 255.0


def _skin(rng: np.random.Generator, size: int) -> np.ndarray:
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))]
    shade = np.asarray(Image.fromarray(rng.uniform(0.9, 1.1, (6, 6)).astype(np.float32), mode="F").resize((size, size), Image.BICUBIC))
    return tone[None, None, :] * shade[..., None] + rng.normal(0, 4, (size, size, 3))


def _hairs(rng: np.random.Generator, image: Image.Image) -> None:
    draw = ImageDraw.Draw(image)
    size = image.size[0]
    for _ in range(int(rng.integers(0, 5))):
        start, bend, end = (rng.uniform(-0.1, 1.1, (3, 2)) * size).tolist()
        t = np.linspace(0, 1, 20)[:, None]
        points = (1 - t) ** 2 * start + 2 * (1 - t) * t * np.array(bend) + t**2 * np.array(end)
        draw.line([tuple(p) for p in points], fill=(45, 30, 25), width=int(rng.integers(1, 3)))


def drawn_looks(cls: str, rng: np.random.Generator, look_alike: float, label_noise: float) -> tuple[str, str, str]:
    """The classes whose (colour, shape, texture) one lesion of class ``cls`` is drawn with: its own, except
    that with probability ``label_noise`` the whole lesion looks like another class (its label is wrong), and
    else with probability ``look_alike`` one of the three parts is another class's (a lesion that mimics
    another, as melanoma mimics naevi), so that no classifier separates the demo's classes perfectly."""
    looks, others = [cls] * 3, [c for c in ISIC_CLASSES if c != cls]
    if rng.random() < label_noise:
        return (str(rng.choice(others)),) * 3
    if rng.random() < look_alike:
        looks[int(rng.integers(3))] = str(rng.choice(others))
    return tuple(looks)


def _acquired(pixels: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Acquisition noise of one picture: white balance, exposure, focus and sensor grain differ per image."""
    pixels = pixels * rng.uniform(0.94, 1.06, 3) * rng.uniform(0.9, 1.1)
    pixels = pixels + rng.normal(0, rng.uniform(1, 5), pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.6)))


def lesion_image(cls: str, lesion_rng_seed: tuple, image_rng_seed: tuple, size: int, look_alike: float = LOOK_ALIKE,
                 label_noise: float = LABEL_NOISE) -> tuple[Image.Image, Image.Image]:
    """One dermoscopy-like picture of a lesion and its binary mask.

    The lesion's shape and colour come from its lesion seed (shared by the images of one lesion), drawn as
    ``drawn_looks`` says; position, scale, rotation, lighting, hairs and acquisition noise from the image seed."""
    lrng, irng = rng_for(*lesion_rng_seed), rng_for(*image_rng_seed)
    colour_of, shape_of, texture_of = drawn_looks(cls, lrng, look_alike, label_noise)
    colour, (_, radius, irregularity, border) = LOOKS[colour_of][0], LOOKS[shape_of]
    harmonics = lrng.normal(0, irregularity, size=(5, 2))
    aspect = lrng.uniform(0.75, 1.0)
    base = np.array(colour, float) + lrng.normal(0, 8, 3)
    texture_seed = int(lrng.integers(2**31))

    grid = (np.mgrid[0:size, 0:size][::-1] + 0.5) / size - 0.5  # x, y in [-0.5, 0.5]
    centre = irng.uniform(-0.06, 0.06, 2)
    turn = irng.uniform(0, 2 * np.pi)
    scale = radius * irng.uniform(0.9, 1.1)
    x, y = grid[0] - centre[0], grid[1] - centre[1]
    u = (x * np.cos(turn) + y * np.sin(turn)) / aspect
    v = -x * np.sin(turn) + y * np.cos(turn)
    ang, dist = np.arctan2(v, u), np.hypot(u, v)
    edge = scale * (1 + sum(a * np.cos((k + 2) * ang + b * np.pi) for k, (a, b) in enumerate(harmonics)))
    alpha = np.clip((edge - dist) * size / border + 0.5, 0, 1)

    lesion = base + _texture(texture_of, rng_for(texture_seed), dist / np.maximum(edge, 1e-6), ang, np.stack([u, v]))
    pixels = _skin(irng, size) * (1 - alpha[..., None]) + lesion * alpha[..., None]
    image = _acquired(pixels, irng)
    _hairs(irng, image)
    if irng.random() < 0.5:  # the dark round field of a contact dermoscope
        field = np.hypot(grid[0], grid[1]) > irng.uniform(0.48, 0.6)
        arr = np.asarray(image).copy()
        arr[field] = arr[field] // 6
        image = Image.fromarray(arr)
    mask = Image.fromarray(((alpha > 0.5) * 255).astype(np.uint8), mode="L")
    return image, mask


# ---- not-skin and OOD pictures: random views of images shipped inside installed packages

def shipped_image(package: str, name: str) -> Image.Image:
    if package == "sklearn":
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(name))
    import skimage.data

    path = Path(skimage.data.__file__).parent / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: scikit-image no longer ships {name}; pick another image in samderm/data/demo.py")
    with Image.open(path) as img:
        return img.convert("RGB")


def random_view(picture: Image.Image, rng: np.random.Generator, size: int) -> Image.Image:
    """A random square crop, flip and colour variation of ``picture`` at ``size`` pixels."""
    w, h = picture.size
    side = int(min(w, h) * rng.uniform(0.35, 0.9))
    left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    view = picture.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    if rng.random() < 0.5:
        view = view.transpose(Image.FLIP_LEFT_RIGHT)
    view = ImageEnhance.Color(view).enhance(rng.uniform(0.6, 1.4))
    view = ImageEnhance.Brightness(view).enhance(rng.uniform(0.8, 1.2))
    tint = rng.uniform(0.85, 1.15, 3)
    return Image.fromarray(np.clip(np.asarray(view) * tint, 0, 255).astype(np.uint8))


def noise(rng: np.random.Generator, size: int) -> Image.Image:
    """Smooth colour noise at a random scale plus grain: no object, no lesion edge."""
    cells = int(rng.integers(3, 24))
    coarse = Image.fromarray(rng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    pixels = np.asarray(coarse, float) + rng.normal(0, rng.uniform(5, 30), (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def stripes(rng: np.random.Generator, size: int) -> Image.Image:
    """A sine grating between two random colours at a random period and angle."""
    y, x = np.mgrid[0:size, 0:size] / size
    angle, period = rng.uniform(0, np.pi), rng.uniform(0.05, 0.3)
    wave = (0.5 + 0.5 * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period))[..., None]
    pixels = wave * rng.uniform(0, 255, 3) + (1 - wave) * rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _not_skin_pick(seed: int, look_alike: float, label_noise: float) -> Callable[[int], tuple[str, Any]]:
    """The i-th not-skin image: a view of a shipped picture; with probability ``label_noise`` a lesion picture
    instead (a not-skin set gathered from the web holds the odd skin photo), else with probability ``look_alike``
    the view recoloured in a skin tone (a hard negative: skin's colour, not skin's shapes)."""
    def pick(i: int) -> tuple[str, Any]:
        picture, draw = NOT_SKIN_IMAGES[i % len(NOT_SKIN_IMAGES)], rng_for(seed, "not_skin kind", i).random()
        if draw >= label_noise + look_alike:
            return "", picture
        make = mislabelled_lesion if draw < label_noise else skin_toned(picture)

        def view(rng: np.random.Generator, size: int) -> Image.Image:
            return make(rng, size)
        view.__name__ = Path(picture[1]).stem  # the file name does not reveal which pictures are hard or noisy
        return "", view
    return pick


def mislabelled_lesion(rng: np.random.Generator, size: int) -> Image.Image:
    """A lesion picture of a random class, drawn true to its class, for the not-skin folder."""
    cls = str(rng.choice(ISIC_CLASSES))
    return lesion_image(cls, ("not_skin lesion", int(rng.integers(2**31))), ("not_skin image", int(rng.integers(2**31))),
                        size, look_alike=0.0, label_noise=0.0)[0]


def skin_toned(picture: tuple[str, str]) -> Callable[[np.random.Generator, int], Image.Image]:
    def skin_toned_view(rng: np.random.Generator, size: int) -> Image.Image:
        """A random view of the picture whose brightness faintly modulates a skin tone, with a soft-edged stain
        of a lesion's colour on it: skin's colours and a lesion-like blob, but the picture's shapes."""
        grey = np.asarray(random_view(shipped_image(*picture), rng, size).convert("L"), float)[..., None] / 255
        y, x = np.mgrid[0:size, 0:size] / size
        (cx, cy), (rx, ry) = rng.uniform(0.35, 0.65, 2), rng.uniform(0.15, 0.3, 2)
        stain = np.clip((1 - np.hypot((x - cx) / rx, (y - cy) / ry)) * 6, 0, 1)[..., None]
        colour = np.array(LOOKS[str(rng.choice(ISIC_CLASSES))][0], float)
        pixels = (1 - stain) * SKIN_TONES[rng.integers(len(SKIN_TONES))] * (0.8 + 0.4 * grey) + stain * colour * (0.7 + 0.6 * grey)
        return _acquired(pixels, rng)
    return skin_toned_view


# ---- near OOD: clinical-style photographs of skin without a lesion (no dermoscope: skin seen from a
# distance, a body-part outline against the room, creases, no contact circle)

ROOM_COLOURS = np.array([[105, 145, 190], [115, 170, 140], [200, 202, 208], [70, 80, 115], [150, 150, 150]], float)


def _clinical_photo(rng: np.random.Generator, size: int, body: np.ndarray, creases: list[np.ndarray]) -> Image.Image:
    """Skin inside ``body`` (bool mask) with darker ``creases`` (bool masks), a plain room behind it,
    shading from one side and camera noise."""
    wall = ROOM_COLOURS[rng.integers(len(ROOM_COLOURS))] * rng.uniform(0.9, 1.1, 3)  # sheet, wall or curtain
    y, x = np.mgrid[0:size, 0:size] / size
    light = 1 + rng.uniform(-0.15, 0.15) * (x - 0.5) + rng.uniform(-0.15, 0.15) * (y - 0.5)  # a lamp to one side
    pixels = np.where(body[..., None], _skin(rng, size), wall[None, None, :] + rng.normal(0, 3, (size, size, 3)))
    for crease in creases:
        pixels = np.where((crease & body)[..., None], pixels * rng.uniform(0.72, 0.85), pixels)
    image = Image.fromarray(np.clip(pixels * light[..., None], 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))  # no contact lens: slightly soft


def _band(x: np.ndarray, y: np.ndarray, angle: float, offset: float) -> np.ndarray:
    """Signed distance of each pixel from the line through (0.5, 0.5) + offset at ``angle``."""
    return (x - 0.5) * np.sin(angle) - (y - 0.5) * np.cos(angle) - offset


def skin_limb(rng: np.random.Generator, size: int) -> Image.Image:
    """An arm or leg crossing the picture: a band of skin with rounded edges, joint creases across it."""
    y, x = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, np.pi)
    across = _band(x, y, angle, rng.uniform(-0.1, 0.1))
    along = (x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle)
    width = rng.uniform(0.18, 0.3) * (1 + 0.15 * along)  # limbs taper
    body = np.abs(across) < width
    joint = rng.uniform(-0.25, 0.25)
    creases = [np.abs(along - joint - 0.025 * k - 0.01 * np.sin(20 * across)) < 0.004 for k in range(int(rng.integers(2, 5)))]
    return _clinical_photo(rng, size, body, creases)


def skin_torso(rng: np.random.Generator, size: int) -> Image.Image:
    """A back or belly filling most of the picture: a body outline with the room at its sides, a
    midline furrow and skin folds."""
    y, x = np.mgrid[0:size, 0:size] / size
    centre, half = rng.uniform(0.4, 0.6), rng.uniform(0.3, 0.42)
    body = np.abs(x - centre) < half * (0.85 + 0.25 * y)  # shoulders narrower than hips, seen from a metre
    midline = np.abs(x - centre - 0.02 * np.sin(6 * y)) < 0.006
    folds = [np.abs(y - rng.uniform(0.55, 0.95) - 0.03 * np.cos(5 * (x - centre))) < 0.004 for _ in range(int(rng.integers(1, 4)))]
    return _clinical_photo(rng, size, body, [midline, *folds])


# OOD kinds, one subfolder each (the manifest's `category`), so tuning and test OOD can differ
# in kind: shipped pictures (random views) or a generator of whole images. The near kinds come early
# in the cycle, so a demo of 4 OOD images has both (config: data.ood_levels.near)
OOD_KINDS: dict[str, list[tuple[str, str]] | Callable[[np.random.Generator, int], Image.Image]] = {
    "flower": [("sklearn", "flower.jpg")],  # the thesis' flower-called-melanoma example
    "skin_limb": skin_limb,
    "objects": [("skimage", "rocket.jpg"), ("skimage", "motorcycle_left.png"), ("skimage", "coins.png")],
    "skin_torso": skin_torso,
    "science": [("skimage", "hubble_deep_field.jpg"), ("skimage", "retina.jpg"), ("skimage", "ihc.png"), ("skimage", "moon.png")],
    "noise": noise,
    "stripes": stripes,
}
NEAR_OOD_KINDS = ("skin_limb", "skin_torso")  # clinical skin without a lesion; the others are far OOD


def _ood_pick(i: int) -> tuple[str, Any]:
    """The i-th OOD image: kinds in turn, the pictures of a kind in turn."""
    kind = list(OOD_KINDS)[i % len(OOD_KINDS)]
    source = OOD_KINDS[kind]
    return kind, source if callable(source) else source[(i // len(OOD_KINDS)) % len(source)]


def _write_views(folder: Path, n: int, pick: Callable[[int], tuple[str, Any]], seed: int, kind: str, size: int) -> None:
    """n images under folder/{subfolder}: pick(i) = (subfolder, a shipped picture or an image generator)."""
    cache: dict[tuple[str, str], Image.Image] = {}
    for i in progress(range(n), desc=kind, unit="img"):
        subfolder, source = pick(i)
        rng = rng_for(seed, kind, i)
        if callable(source):
            view, stem = source(rng, size), source.__name__
        else:
            if source not in cache:
                cache[source] = shipped_image(*source)
            view, stem = random_view(cache[source], rng, size), Path(source[1]).stem
        (folder / subfolder).mkdir(parents=True, exist_ok=True)
        view.save(folder / subfolder / f"{stem}_{i:03d}.jpg", quality=92)


# ---- the whole demo study

def _validate(cfg: Mapping[str, Any]) -> None:
    unknown = set(cfg) - DEMO_KEYS
    if unknown:
        raise ValueError(f"data.demo: unknown key(s) {sorted(unknown)}; known: {sorted(DEMO_KEYS)}")
    bad = [c for c in cfg.get("class_counts", {}) if c not in (*ISIC_CLASSES, UNK)]
    if bad:
        raise ValueError(f"data.demo.class_counts: unknown class(es) {bad}")
    if int(cfg.get("image_size", 128)) < 32:
        raise ValueError("data.demo.image_size: must be >= 32")
    if int(cfg.get("images_per_lesion", 1)) < 1:
        raise ValueError("data.demo.images_per_lesion: must be >= 1")
    if not 0 <= sum(_overlap(cfg)) <= 1 or min(_overlap(cfg)) < 0:
        raise ValueError(f"data.demo.look_alike and label_noise: shares in [0, 1] that sum to at most 1, got {_overlap(cfg)}")
    if int(cfg.get("ood", 0)) == 1:
        raise ValueError("data.demo.ood: 0 or >= 2, so that tuning (val) and test OOD can be of different kinds")


def demo_plan(cfg: Mapping[str, Any]) -> list[dict[str, str]]:
    """One dict per lesion image: image id, class, lesion_id ('' for a leftover solo image)."""
    per_lesion = int(cfg.get("images_per_lesion", 1))
    items = []
    for cls in (*ISIC_CLASSES, UNK):
        n = int(cfg.get("class_counts", {}).get(cls, 0))
        for k in range(n):
            lesion = k // per_lesion
            grouped = (lesion + 1) * per_lesion <= n  # an incomplete last group becomes solo images
            items.append({"class": cls, "lesion": f"{cls}{lesion}" if grouped else ""})
    # ISIC ids do not reveal the class: number the images in a seeded order
    order = rng_for(cfg.get("seed", 0), "ids").permutation(len(items))
    lesion_numbers: dict[str, str] = {}
    for number, index in enumerate(order):
        item = items[index]
        item["image"] = f"ISIC_{number:07d}"
        if item["lesion"]:
            item["lesion_id"] = lesion_numbers.setdefault(item["lesion"], f"HAM_{len(lesion_numbers):07d}")
        else:
            item["lesion_id"] = ""
    return sorted(items, key=lambda it: it["image"])


def unlabeled_plan(cfg: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, class) of each unlabeled image: kind ``lesion`` (3/4 of them, classes in proportion to
    class_counts, every class once where there are enough), ``ood`` or ``not_skin`` (class '')."""
    n = int(cfg.get("unlabeled", 0))
    counts = {c: int(k) for c, k in cfg.get("class_counts", {}).items() if int(k) > 0 and c != UNK}
    n_lesion = int(round(n * UNLABELED_LESION_SHARE)) if counts else 0
    order = sorted(counts, key=lambda c: -counts[c])  # largest first; stable for equal counts
    base = 1 if n_lesion >= len(order) else 0
    spare, total = n_lesion - base * len(order), sum(counts.values())
    per_class = {c: base + spare * counts[c] // total for c in order}  # rounded down; the rest to the largest
    for i in range(n_lesion - sum(per_class.values())):
        per_class[order[i % len(order)]] += 1
    plan = [("lesion", c) for c in order for _ in range(per_class[c])]
    rest = n - len(plan)
    plan += [("ood", "")] * (rest - rest // 3) + [("not_skin", "")] * (rest // 3)
    return plan


def generate_unlabeled(folder: str | Path, cfg: Mapping[str, Any]) -> None:
    """``folder/unlabeled_{i}.jpg``: lesions drawn like the labelled ones but of new lesion groups
    (own seeds), and pictures of the OOD kinds and not-skin pictures, flat and nameless as a real pool."""
    seed, size = int(cfg.get("seed", 0)), int(cfg.get("image_size", 128))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plan = unlabeled_plan(cfg)
    order = rng_for(seed, "unlabeled ids").permutation(len(plan))  # file names do not reveal the kind
    for i in progress(range(len(plan)), desc="unlabeled", unit="img"):
        kind, cls = plan[order[i]]
        if kind == "lesion":
            image, _ = lesion_image(cls, (seed, "unlabeled lesion", i), (seed, "unlabeled image", i), size, *_overlap(cfg))
        else:
            _, source = _ood_pick(i) if kind == "ood" else ("", NOT_SKIN_IMAGES[i % len(NOT_SKIN_IMAGES)])
            rng = rng_for(seed, "unlabeled", i)
            image = source(rng, size) if callable(source) else random_view(shipped_image(*source), rng, size)
        image.save(folder / f"unlabeled_{i:04d}.jpg", quality=92)
    log.info("demo unlabeled: %d images (%s)", len(plan), ", ".join(f"{k} {sum(p[0] == k for p in plan)}"
                                                                   for k in ("lesion", "ood", "not_skin")))


def generate_demo(isic_dir: str | Path, not_skin_dir: str | Path, ood_dir: str | Path, cfg: Mapping[str, Any],
                  unlabeled_dir: str | Path | None = None, clinical_dir: str | Path | None = None) -> None:
    """Write the demo ISIC 2019 layout (CSVs, images, masks/), the not-skin and OOD folders and,
    given ``unlabeled_dir``, ``data.demo.unlabeled`` unlabeled images there; given ``clinical_dir``,
    the clinical-photo external source of ``data.demo.clinical`` with a copy of the first training
    image planted in it (the cross-source overlap check must remove it)."""
    _validate(cfg)
    seed, size = int(cfg.get("seed", 0)), int(cfg.get("image_size", 128))
    isic_dir, not_skin_dir, ood_dir = Path(isic_dir), Path(not_skin_dir), Path(ood_dir)
    images, masks = isic_dir / isic.IMAGE_FOLDER, isic_dir / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)

    plan = demo_plan(cfg)
    gt_rows, meta_rows = [], []
    for item in progress(plan, desc="lesion images", unit="img"):
        lesion_key = item["lesion_id"] or item["image"]
        image, mask = lesion_image(item["class"], (seed, "lesion", lesion_key), (seed, "image", item["image"]), size,
                                   *_overlap(cfg))
        image.save(images / f"{item['image']}.jpg", quality=92)
        mask.save(masks / f"{item['image']}_mask.png")
        gt_rows.append([item["image"]] + ["1.0" if c == item["class"] else "0.0" for c in isic.GROUND_TRUTH_COLUMNS[1:]])
        patient = rng_for(seed, "patient", lesion_key)
        meta_rows.append([item["image"], f"{5 * int(patient.integers(4, 18))}.0", SITES[int(patient.integers(len(SITES)))],
                          item["lesion_id"], ["male", "female"][int(patient.integers(2))]])
    _write_csv(isic_dir / isic.GROUND_TRUTH, isic.GROUND_TRUTH_COLUMNS, gt_rows)
    _write_csv(isic_dir / isic.METADATA, isic.METADATA_COLUMNS, meta_rows)

    n_ns, n_ood = int(cfg.get("not_skin", 0)), int(cfg.get("ood", 0))
    not_skin_dir.mkdir(parents=True, exist_ok=True)
    ood_dir.mkdir(parents=True, exist_ok=True)
    _write_views(not_skin_dir, n_ns, _not_skin_pick(seed, *_overlap(cfg)), seed, "not_skin", size)
    _write_views(ood_dir, n_ood, _ood_pick, seed, "ood", size)
    if unlabeled_dir is not None:
        generate_unlabeled(unlabeled_dir, cfg)
    if clinical_dir is not None:
        from samderm.data.demo_clinical import make_clinical_source  # it draws its lesions with this module

        make_clinical_source(clinical_dir, cfg.get("clinical") or {}, plant=sorted(images.glob("*.jpg"))[0])
    log.info("demo study: %d lesion images (%d lesions), %d not-skin, %d OOD, %d px",
             len(plan), len({p['lesion_id'] for p in plan if p['lesion_id']}), n_ns, n_ood, size)


def _overlap(cfg: Mapping[str, Any]) -> tuple[float, float]:
    """(look_alike, label_noise) of the demo config."""
    return float(cfg.get("look_alike", LOOK_ALIKE)), float(cfg.get("label_noise", LABEL_NOISE))


def _write_csv(path: Path, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
