"""Augmented copies are deterministic from (seed, image id, copy) and render exactly."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from samderm.data.augment import render_view, sample_transform

AUG = {"hflip": 0.5, "vflip": 0.5, "rotation_degrees": 180,
       "color_jitter": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.02}}


def _image(size=32):
    rng = np.random.default_rng(1)
    return Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8))


def _png_sha(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return hashlib.sha256(buf.getvalue()).hexdigest()


def test_same_copy_same_parameters_and_bytes_in_a_fresh_interpreter():
    # a new interpreter has a different PYTHONHASHSEED: catches use of hash()
    code = (
        "import json; from samderm.data.augment import sample_transform;"
        f"print(json.dumps(sample_transform('ISIC_0000001', 3, 7, {AUG!r})))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""})
    here = sample_transform("ISIC_0000001", 3, 7, AUG)
    assert json.loads(other.stdout) == here
    img = _image()
    assert _png_sha(render_view(img, here)[0]) == _png_sha(render_view(img, json.loads(other.stdout))[0])


def test_copies_differ_by_index_image_and_seed():
    base = sample_transform("a", 1, 0, AUG)
    assert sample_transform("a", 2, 0, AUG) != base
    assert sample_transform("b", 1, 0, AUG) != base
    assert sample_transform("a", 1, 1, AUG) != base


def test_parameters_stay_in_configured_ranges():
    draws = [sample_transform(f"img{i}", 1, 0, AUG) for i in range(200)]
    assert all(abs(d["rotation"]) <= 180 and 0.8 <= d["brightness"] <= 1.2 and abs(d["hue"]) <= 0.02 for d in draws)
    share = np.mean([d["hflip"] for d in draws])
    assert 0.35 < share < 0.65


def test_no_augmentation_config_gives_identity_parameters():
    t = sample_transform("a", 1, 0, {})
    assert t == {"hflip": False, "vflip": False, "rotation": 0.0,
                 "brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "hue": 0.0}
    img = _image()
    assert np.array_equal(np.asarray(render_view(img, t)[0]), np.asarray(img))


def test_empty_transform_returns_inputs_unchanged():
    img, mask = _image(), Image.new("L", (32, 32))
    assert render_view(img, {}) == (img, None)
    assert render_view(img, {}, mask)[1] is mask


def test_geometry_applies_to_mask_and_colour_does_not():
    img = Image.new("RGB", (20, 20), (100, 100, 100))
    mask_arr = np.zeros((20, 20), np.uint8)
    mask_arr[:, :5] = 255  # left stripe
    mask = Image.fromarray(mask_arr)
    out_img, out_mask = render_view(img, {"hflip": True, "brightness": 1.5}, mask)
    assert (np.asarray(out_mask)[:, -5:] == 255).all() and (np.asarray(out_mask)[:, :-5] == 0).all()
    assert np.asarray(out_img)[0, 0, 0] == 150


def test_rotation_is_applied_and_mask_stays_binary():
    mask_arr = np.zeros((21, 21), np.uint8)
    mask_arr[:, :7] = 255
    _, out = render_view(_image(21), {"rotation": 90.0}, Image.fromarray(mask_arr))
    out = np.asarray(out)
    assert set(np.unique(out)) <= {0, 255}
    assert (out[-7:, 1:-1] == 255).all()  # counter-clockwise: left stripe goes to the bottom


def test_unknown_transform_key_is_refused():
    with pytest.raises(ValueError, match="shear"):
        render_view(_image(), {"shear": 3})
