"""ITA of lesion images: known CIELAB colours, masks vs the border ring, categories, the manifest table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.color import lab2rgb

from samderm.data.ita import (ITA_CATEGORIES, UndefinedITAError, compute_ita, compute_ita_file, ita_category,
                              ita_from_lab, ita_of, skin_pixels)
from samderm.io import read_tsv

A_STAR = 10.0  # a skin-like redness; ITA ignores a*
# (L*, b*, category): every category, none near a boundary
KNOWN = [(80, 12, "very_light"), (70, 20, "light"), (62, 18, "intermediate"), (55, 18, "tan"),
         (45, 20, "brown"), (25, 15, "dark")]


def lab_rgb(l_star: float, b_star: float, a_star: float = A_STAR) -> np.ndarray:
    """The uint8 sRGB colour of a CIELAB colour (skimage's lab2rgb, rounded)."""
    rgb = lab2rgb(np.array([[[l_star, a_star, b_star]]], dtype=float))[0, 0]
    return np.round(rgb * 255).astype(np.uint8)


def patch(l_star: float, b_star: float, size: int = 20) -> np.ndarray:
    return np.broadcast_to(lab_rgb(l_star, b_star), (size, size, 3)).copy()


def expected_ita(l_star: float, b_star: float) -> float:
    return math.atan((l_star - 50) / b_star) * 180 / math.pi


def rounding_tolerance(l_star: float, b_star: float, shift: float = 0.5) -> float:
    """How far ITA can move (degrees) when rounding to uint8 moves L* and b* by up to ``shift``:
    |dITA| <= (|b*| |dL*| + |L* - 50| |db*|) / (b*^2 + (L* - 50)^2) radians."""
    d = l_star - 50
    return math.degrees(shift * (abs(b_star) + abs(d)) / (b_star ** 2 + d ** 2))


def everywhere(shape) -> np.ndarray:
    return np.ones(shape[:2], dtype=bool)


@pytest.mark.parametrize("l_star, b_star, category", KNOWN)
def test_known_lab_patch(l_star, b_star, category):
    rgb = patch(l_star, b_star)
    ita = ita_of(rgb, everywhere(rgb.shape))
    assert ita == pytest.approx(expected_ita(l_star, b_star), abs=rounding_tolerance(l_star, b_star))
    assert ita_category(ita) == category


def test_known_patches_span_all_categories():
    assert {c for *_, c in KNOWN} == set(ITA_CATEGORIES)


def lesion_image(skin_lab=(70, 20), lesion_lab=(25, 15), size=40, lesion=(10, 30)) -> tuple[np.ndarray, np.ndarray]:
    """Skin of one colour, a central square lesion of another; (rgb, mask with lesion 255)."""
    rgb = patch(*skin_lab, size=size)
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[lesion[0]:lesion[1], lesion[0]:lesion[1]] = 255
    rgb[mask > 0] = lab_rgb(*lesion_lab)
    return rgb, mask


def test_mask_excludes_the_lesion():
    rgb, mask = lesion_image()
    skin, where = skin_pixels(rgb.shape, mask, ring=0.1)
    assert where == "mask"
    assert not skin[mask > 0].any() and skin[mask == 0].all()
    ita = ita_of(rgb, skin)
    assert ita == pytest.approx(expected_ita(70, 20), abs=rounding_tolerance(70, 20))
    assert ita_category(ita) == "light"
    # the whole image (mask ignored) is far off: the test above would fail without the mask
    assert abs(ita_of(rgb, everywhere(rgb.shape)) - ita) > 5


def test_without_mask_the_ring_is_used():
    size = 40
    skin, where = skin_pixels((size, size, 3), None, ring=0.1)
    assert where == "ring"
    width = 4  # 0.1 x 40
    assert skin[:width].all() and skin[-width:].all() and skin[:, :width].all() and skin[:, -width:].all()
    assert not skin[width:-width, width:-width].any()
    # the centre's colour does not matter
    values = {ita_of(lesion_image(lesion_lab=lab, lesion=(width, size - width))[0], skin)
              for lab in [(25, 15), (80, 12), (50, -20)]}
    assert len(values) == 1
    assert values.pop() == pytest.approx(expected_ita(70, 20), abs=rounding_tolerance(70, 20))


def test_ring_on_a_non_square_image():
    skin, _ = skin_pixels((30, 100), None, ring=0.1)  # 3 px of the shorter side
    assert skin[:3].all() and skin[:, :3].all() and not skin[3:-3, 3:-3].any()
    with pytest.raises(ValueError):
        skin_pixels((30, 100), None, ring=0.0)


@pytest.mark.parametrize("value, category", [
    (90, "very_light"), (55.0001, "very_light"), (55, "light"), (41.0001, "light"), (41, "intermediate"),
    (28.0001, "intermediate"), (28, "tan"), (10.0001, "tan"), (10, "brown"), (-29.9999, "brown"),
    (-30, "dark"), (-90, "dark")])
def test_category_boundaries(value, category):
    assert ita_category(value) == category


def test_category_of_nan_is_an_error():
    with pytest.raises(ValueError):
        ita_category(float("nan"))


def test_b_star_zero_is_a_reason_not_a_crash(tmp_path):
    with pytest.raises(UndefinedITAError, match="b\\* is 0"):
        ita_from_lab(60.0, 0.0)
    grey = np.full((10, 10, 3), 128, dtype=np.uint8)  # neutral grey: b* ~ 0.003 in skimage, not exactly 0
    with pytest.raises(UndefinedITAError, match="b\\* is 0"):
        ita_of(grey, everywhere(grey.shape))
    manifest = pd.DataFrame([dict(image_id="grey", path=save(tmp_path / "grey.png", grey), source="lesion",
                                  lesion_class="NV", status="ok", mask_path="", dataset="")])
    row = compute_ita(manifest).iloc[0]
    assert "b* is 0" in row["reason"] and math.isnan(row["ita"]) and row["ita_category"] == ""


def save(path: Path, array: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return str(path)


@pytest.fixture
def tiny_manifest(tmp_path) -> pd.DataFrame:
    rgb, mask = lesion_image()
    small_mask = np.asarray(Image.fromarray(mask).resize((20, 20), Image.NEAREST))  # resized to the image
    full_mask = np.full((40, 40), 255, dtype=np.uint8)  # all lesion: no skin
    rows = [
        dict(image_id="masked", path=save(tmp_path / "masked.png", rgb), source="lesion", lesion_class="NV",
             status="ok", mask_path=save(tmp_path / "masked_mask.png", small_mask), dataset=""),
        dict(image_id="ringed", path=save(tmp_path / "ringed.png", lesion_image(lesion=(4, 36))[0]), source="lesion",
             lesion_class="MEL", status="ok", mask_path="", dataset=""),
        dict(image_id="all_lesion", path=save(tmp_path / "all_lesion.png", rgb), source="lesion", lesion_class="NV",
             status="ok", mask_path=save(tmp_path / "full_mask.png", full_mask), dataset=""),
        dict(image_id="ext1", path=save(tmp_path / "ext1.png", patch(25, 15, 40)), source="external",
             lesion_class="MEL", status="ok", mask_path="", dataset="derm7pt"),
        dict(image_id="bad", path=str(tmp_path / "missing.png"), source="external", lesion_class="NV",
             status="ok", mask_path="", dataset="derm7pt"),
        dict(image_id="rejected", path=str(tmp_path / "missing.png"), source="lesion", lesion_class="NV",
             status="rejected", mask_path="", dataset=""),
        dict(image_id="cat", path=save(tmp_path / "cat.png", patch(80, 12)), source="not_skin", lesion_class="",
             status="ok", mask_path="", dataset=""),
        dict(image_id="ood1", path=save(tmp_path / "ood1.png", patch(80, 12)), source="ood", lesion_class="",
             status="ok", mask_path="", dataset=""),
    ]
    return pd.DataFrame(rows)


def test_compute_ita_on_a_manifest(tiny_manifest):
    table = compute_ita(tiny_manifest, ring=0.1, min_skin_share=0.05)
    assert list(table.columns) == ["image_id", "ita", "ita_category", "skin_share", "skin_from", "reason"]
    assert list(table["image_id"]) == ["masked", "ringed", "all_lesion", "ext1", "bad"]
    rows = table.set_index("image_id")
    for image_id, where in [("masked", "mask"), ("ringed", "ring")]:
        assert rows.loc[image_id, "reason"] == ""
        assert rows.loc[image_id, "skin_from"] == where
        assert rows.loc[image_id, "ita"] == pytest.approx(expected_ita(70, 20), abs=rounding_tolerance(70, 20))
        assert rows.loc[image_id, "ita_category"] == "light"
    assert rows.loc["ext1", "ita_category"] == "dark"
    assert rows.loc["all_lesion", "skin_share"] == 0
    assert "below min_skin_share" in rows.loc["all_lesion", "reason"]
    assert rows.loc["bad", "reason"].startswith("image: file not found")
    for image_id in ("all_lesion", "bad"):
        assert math.isnan(rows.loc[image_id, "ita"]) and rows.loc[image_id, "ita_category"] == ""


def test_compute_ita_is_deterministic(tiny_manifest, tmp_path):
    one = compute_ita(tiny_manifest, threads=1)
    two = compute_ita(tiny_manifest, threads=3)
    pd.testing.assert_frame_equal(one, two)
    manifest = tmp_path / "manifest.tsv"
    tiny_manifest.to_csv(manifest, sep="\t", index=False)
    compute_ita_file(manifest, tmp_path / "a.tsv", 0.1, 0.05, 1)
    compute_ita_file(manifest, tmp_path / "b.tsv", 0.1, 0.05, 2)
    text = (tmp_path / "a.tsv").read_text()
    assert text == (tmp_path / "b.tsv").read_text()
    assert text.startswith("# ITA = arctan((L* - 50) / b*)")
    back = read_tsv(tmp_path / "a.tsv")
    assert back.loc[back["image_id"] == "bad", "ita"].item() == ""


def test_ita_figure(tiny_manifest, tmp_path):
    from samderm.report.ita_figure import ita_figure, ita_groups

    table = compute_ita(tiny_manifest)
    groups = ita_groups(table, tiny_manifest)
    assert set(groups["panel"]) == {"lesion", "external: derm7pt"}
    for name in ("a", "b"):
        ita_figure(table, tiny_manifest, tmp_path / f"{name}.png", tmp_path / f"{name}.svg")
    assert (tmp_path / "a.png").stat().st_size > 0
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    ita_figure(table.iloc[0:0], tiny_manifest, tmp_path / "empty.png")  # no values: still a figure
