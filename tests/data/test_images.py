"""load_rgb converts every colour mode to RGB and names the file and reason for bad ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samderm.data.images import BadImageError, load_rgb


def _noise(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


@pytest.fixture
def jpeg_bytes(tmp_path):
    path = tmp_path / "ok.jpg"
    Image.fromarray(_noise((48, 48, 3))).save(path, quality=90)
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_jpeg_is_rejected_with_path(tmp_path, jpeg_bytes, keep):
    path = tmp_path / "ISIC_trunc.jpg"
    path.write_bytes(jpeg_bytes[: int(len(jpeg_bytes) * keep)])
    with pytest.raises(BadImageError, match="truncated") as err:
        load_rgb(path)
    assert err.value.path == str(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(BadImageError, match="zero-byte") as err:
        load_rgb(path)
    assert "empty.jpg" in str(err.value)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n")
    with pytest.raises(BadImageError, match="not an image"):
        load_rgb(path)


def test_missing_file(tmp_path):
    with pytest.raises(BadImageError, match="not found"):
        load_rgb(tmp_path / "gone.jpg")


def test_grayscale_becomes_rgb_with_equal_channels(tmp_path):
    gray = _noise((20, 30))
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    out = np.asarray(load_rgb(tmp_path / "g.png"))
    assert out.shape == (20, 30, 3)
    assert (out == gray[..., None]).all()


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    rgb = Image.new("RGB", (16, 16), (200, 40, 10))
    rgb.convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    out = load_rgb(tmp_path / "c.jpg")
    assert out.mode == "RGB"
    assert np.abs(np.asarray(out).astype(int) - [200, 40, 10]).max() < 12


def test_rgba_png_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:4, :, 3] = 255  # top half opaque, bottom transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    out = np.asarray(load_rgb(tmp_path / "a.png"))
    assert (out[:4] == [255, 0, 0]).all()
    assert (out[4:] == [255, 255, 255]).all()


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    wide = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "w.png")
    assert Image.open(tmp_path / "w.png").mode.startswith("I")
    out = np.asarray(load_rgb(tmp_path / "w.png"))
    assert out[0, :, 0].tolist() == [0, 100, 255]


def test_palette_png_becomes_rgb(tmp_path):
    Image.fromarray(_noise((10, 10, 3))).convert("P").save(tmp_path / "p.png")
    assert load_rgb(tmp_path / "p.png").mode == "RGB"


def test_bad_image_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(BadImageError("x.jpg", "why")))
    assert (err.path, err.reason) == ("x.jpg", "why")
