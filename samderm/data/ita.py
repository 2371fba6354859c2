"""The individual typology angle (ITA) of every lesion image: a skin-tone measure of the skin
around the lesion, and its six standard categories.

ITA = arctan((L* - 50) / b*) x 180 / pi, in degrees, on CIELAB (skimage ``rgb2lab``: sRGB,
D65 illuminant, 2 degree observer) of the skin pixels outside the lesion: those outside the
lesion mask where the manifest has one, else a border ring of the image (the lesion is
assumed central, as in dermoscopy). ITA is of the image as photographed: no colour
calibration, so camera, lighting and dermoscope change it.

Categories (Chardon et al. 1991; Del Bino & Bernerd 2013), each the interval (lower, upper]:
very_light (55, 90], light (41, 55], intermediate (28, 41], tan (10, 28], brown (-30, 10],
dark [-90, -30]. A value exactly on a boundary belongs to the darker category below it
(55 is light, -30 is dark).
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from skimage.color import rgb2lab

from samderm.data.images import BadImageError, load_rgb
from samderm.io import read_tsv, write_tsv
from samderm.logs import progress

log = logging.getLogger(__name__)

# lightest first; ITA_BOUNDARIES[i] is the lower (exclusive) bound of ITA_CATEGORIES[i]
ITA_CATEGORIES = ("very_light", "light", "intermediate", "tan", "brown", "dark")
ITA_BOUNDARIES = (55.0, 41.0, 28.0, 10.0, -30.0)  # between consecutive categories
ITA_SOURCES = ("lesion", "external")  # skin photographs of a lesion; not_skin, ood, unlabeled are not listed
COLUMNS = ["image_id", "ita", "ita_category", "skin_share", "skin_from", "reason"]
FORMULA = ("ITA = arctan((L* - 50) / b*) * 180 / pi (degrees) of the mean L* and mean b* (CIELAB, skimage rgb2lab, "
           "D65) of the skin pixels outside the lesion (skin_from: mask = outside mask_path, ring = a border ring of "
           "ring x the shorter side); categories, each (lower, upper]: very_light > 55, light (41, 55], "
           "intermediate (28, 41], tan (10, 28], brown (-30, 10], dark <= -30")
# |mean b*| below this is b* = 0 (ITA undefined): 200x below a just-noticeable difference, 2x skimage's b* of pure grey
B_STAR_ZERO = 0.01
_CHUNK = 1 << 20  # pixels converted at a time: bounded memory on 24-megapixel images


class UndefinedITAError(ValueError):
    """The skin pixels give no ITA (none, or mean b* of 0); carries the reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def ita_category(ita_degrees: float) -> str:
    """The category of an ITA in degrees; boundaries belong to the darker side ((41, 55] is light)."""
    if not math.isfinite(ita_degrees):
        raise ValueError(f"ITA {ita_degrees!r} has no category")
    for name, lower in zip(ITA_CATEGORIES, ITA_BOUNDARIES):
        if ita_degrees > lower:
            return name
    return ITA_CATEGORIES[-1]


def ring_width(shape: tuple[int, ...], ring: float) -> int:
    """Border ring width in pixels: ``ring`` x the shorter side, rounded, at least 1."""
    if not 0 < ring <= 0.5:
        raise ValueError(f"data.ita.ring: a share of the shorter side in (0, 0.5], got {ring!r}")
    return max(1, int(round(ring * min(shape[:2]))))


def skin_pixels(shape: tuple[int, ...], mask: np.ndarray | None, ring: float) -> tuple[np.ndarray, str]:
    """(bool H x W array of the skin pixels, "mask" | "ring").

    With a mask (H x W, > 0 is lesion): every pixel outside it. Without: a border ring of width
    ``ring`` x the shorter side (``ring_width``), the lesion being assumed central.
    """
    h, w = shape[:2]
    if mask is not None:
        if mask.shape[:2] != (h, w):
            raise ValueError(f"mask shape {mask.shape[:2]} differs from the image's {(h, w)}")
        return np.asarray(mask) <= 0, "mask"
    width = ring_width((h, w), ring)
    skin = np.ones((h, w), dtype=bool)
    skin[width:h - width, width:w - width] = False
    return skin, "ring"


def mean_lab(rgb: np.ndarray, skin: np.ndarray) -> tuple[float, float]:
    """(mean L*, mean b*) of the skin pixels, converted with skimage's rgb2lab in chunks."""
    pixels = np.asarray(rgb)[np.asarray(skin, dtype=bool)]  # N x 3 uint8
    if len(pixels) == 0:
        raise UndefinedITAError("no skin pixels")
    total_l = total_b = 0.0
    for start in range(0, len(pixels), _CHUNK):
        lab = rgb2lab(pixels[start:start + _CHUNK].reshape(-1, 1, 3))
        total_l += float(lab[..., 0].sum(dtype=np.float64))
        total_b += float(lab[..., 2].sum(dtype=np.float64))
    return total_l / len(pixels), total_b / len(pixels)


def ita_from_lab(l_star: float, b_star: float) -> float:
    """arctan((L* - 50) / b*) x 180 / pi; b* of 0 (|b*| < B_STAR_ZERO) raises UndefinedITAError:
    the ratio has no value, and arctan2 would pick +-90 or 0 by convention, not by measurement.
    The tolerance because skimage maps neutral grey to b* of 0.003-0.005 (white-point rounding),
    not 0, so a grey patch would otherwise read as ITA ~ +90 (very_light)."""
    if abs(b_star) < B_STAR_ZERO:
        raise UndefinedITAError(f"mean b* is 0 (|{b_star:.4g}| < {B_STAR_ZERO}): (L* - 50) / b* is undefined")
    return float(np.arctan((l_star - 50.0) / b_star) * 180.0 / np.pi)


def ita_of(rgb: np.ndarray, skin: np.ndarray) -> float:
    """ITA in degrees of the skin pixels of an 8-bit RGB image (H x W x 3, ``skin`` H x W bool).

    The ITA of the mean L* and the mean b* of the skin pixels (one colour, then one angle),
    not the mean or median of per-pixel ITAs: a per-pixel angle is unstable where a pixel's b*
    is near 0 (it jumps between -90 and +90), and ITA was defined on one colorimeter
    reading, itself an average over an area of skin. The same choice as derm_ita's
    whole-region ITA (Corbin & Marques, used on ISIC); its patch methods take the median of
    patch ITAs instead. Kinyanjui et al. 2020 and Groh et al. 2021 (Fitzpatrick17k) were not
    checked in detail here for their exact aggregation. Raises UndefinedITAError without
    skin pixels or with mean b* of 0 (``ita_from_lab``).
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"ita_of needs uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
    return ita_from_lab(*mean_lab(rgb, skin))


def read_mask(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """A mask PNG as an H x W uint8 array (> 0 lesion) of the image's ``size`` (w, h); a mask of
    another size is resized to it, nearest neighbour (so it stays binary)."""
    try:
        with Image.open(path) as img:
            mask = img.convert("L")
    except FileNotFoundError:
        raise BadImageError(path, "mask file not found") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise BadImageError(path, f"cannot read mask: {err}") from None
    if mask.size != size:
        mask = mask.resize(size, Image.NEAREST)
    return np.asarray(mask)


def _row_ita(image_id: str, path: str, mask_path: str, ring: float, min_skin_share: float) -> dict:
    row = dict(image_id=image_id, ita=np.nan, ita_category="", skin_share=np.nan,
               skin_from="mask" if mask_path else "ring", reason="")
    try:
        image = load_rgb(path)
    except BadImageError as err:
        row["reason"] = f"image: {err.reason}"
        return row
    try:
        mask = read_mask(mask_path, image.size) if mask_path else None
    except BadImageError as err:
        row["reason"] = f"mask {mask_path}: {err.reason}"
        return row
    rgb = np.asarray(image)
    skin, row["skin_from"] = skin_pixels(rgb.shape, mask, ring)
    share = float(skin.mean())
    row["skin_share"] = round(share, 4)
    if share < min_skin_share:
        row["reason"] = f"skin share {share:.4f} below min_skin_share {min_skin_share}"
        return row
    try:
        ita = ita_of(rgb, skin)
    except UndefinedITAError as err:
        row["reason"] = err.reason
        return row
    row.update(ita=round(ita, 4), ita_category=ita_category(ita))
    return row


def compute_ita(manifest: pd.DataFrame, ring: float = 0.1, min_skin_share: float = 0.05,
                threads: int = 1) -> pd.DataFrame:
    """One row per ok image of sources ``lesion`` and ``external``, in manifest order: ``image_id,
    ita, ita_category, skin_share, skin_from, reason``. ``ita`` (degrees, NaN where undefined)
    is of the pixels outside ``mask_path`` when the manifest gives one, else of a border ring
    (``skin_pixels``). ``reason`` is non-empty (and ita/category empty) when the skin share is
    below ``min_skin_share``, mean b* is 0, or the image or mask cannot be read."""
    ring_width((100, 100), ring)  # validate before any decode
    if not 0 <= min_skin_share <= 1:
        raise ValueError(f"data.ita.min_skin_share: a share in [0, 1], got {min_skin_share!r}")
    todo = manifest[(manifest["status"] == "ok") & manifest["source"].isin(ITA_SOURCES)]
    mask_paths = todo["mask_path"].fillna("").astype(str) if "mask_path" in todo else pd.Series("", index=todo.index)
    args = list(zip(todo["image_id"], todo["path"], mask_paths))
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = pool.map(lambda a: _row_ita(*a, ring, min_skin_share), args)
        rows = list(progress(results, desc="ITA", total=len(args), unit="img"))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["ita"] = table["ita"].astype(float)
    table["skin_share"] = table["skin_share"].astype(float)
    return table


def compute_ita_file(manifest_path: str | Path, out_tsv: str | Path, ring: float = 0.1, min_skin_share: float = 0.05,
                     threads: int = 1) -> pd.DataFrame:
    """``compute_ita`` of the manifest TSV written to ``out_tsv`` (``#`` header: the formula and
    the categories); logs the counts per category and per reason."""
    table = compute_ita(read_tsv(manifest_path), ring, min_skin_share, threads)
    write_tsv(table, out_tsv, header_comment=f"{FORMULA}; ring={ring}, min_skin_share={min_skin_share}")
    valid = table[table["reason"] == ""]
    categories = valid["ita_category"].value_counts().reindex(ITA_CATEGORIES, fill_value=0)
    log.info("ITA of %d image(s): %d with a value (%d from masks, %d from the border ring), %d without",
             len(table), len(valid), int((valid["skin_from"] == "mask").sum()),
             int((valid["skin_from"] == "ring").sum()), len(table) - len(valid))
    log.info("ITA categories:\n%s", categories.to_string())
    if len(valid) < len(table):
        log.info("no ITA, per reason:\n%s", table.loc[table["reason"] != "", "reason"].value_counts().to_string())
    return table
