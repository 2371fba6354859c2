"""Preprocessing and encoder output equal SAM2's own image predictor; pooling options."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sam2.sam2_image_predictor import SAM2ImagePredictor

from samderm.features.dataset import EncoderInputs
from samderm.features.encoder import PooledEncoder, feature_dim, pool
from samderm.features.preprocess import preprocess

from .conftest import RESOLUTION


def test_inputs_and_features_equal_sam2_image_predictor(tiny_model, tmp_path):
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, size=(70, 90, 3), dtype=np.uint8))
    image.save(tmp_path / "x.png")
    views = pd.DataFrame([{"view_id": "x", "image_id": "x", "path": str(tmp_path / "x.png"),
                           "mask_path": "", "transform": {}}])
    _, ours = EncoderInputs(views, functools.partial(preprocess, resolution=RESOLUTION))[0]

    predictor = SAM2ImagePredictor(tiny_model)
    s = RESOLUTION
    predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    theirs = predictor._transforms(image)
    assert ours.shape == (3, s, s)
    assert torch.equal(ours, theirs)

    predictor.set_image(image)
    # the predictor's embedding is vision_features plus SAM2's constant no-memory embedding
    embed = predictor._features["image_embed"] - tiny_model.no_mem_embed.view(1, -1, 1, 1)
    with torch.inference_mode():
        pooled = PooledEncoder(tiny_model, "mean")(ours[None])
    torch.testing.assert_close(pooled, embed.mean(dim=(2, 3)), rtol=1e-5, atol=1e-5)


def test_poolings():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 2, 2)
    torch.testing.assert_close(pool(x, "mean"), x.mean(dim=(2, 3)))
    torch.testing.assert_close(pool(x, "max"), x.amax(dim=(2, 3)))
    torch.testing.assert_close(pool(x, "meanmax"), torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], 1))
    assert (feature_dim("mean"), feature_dim("max"), feature_dim("meanmax")) == (256, 256, 512)
    with pytest.raises(ValueError, match="unknown pooling 'sum'"):
        pool(x, "sum")


def test_encoder_output_dimension(tiny_model):
    images = torch.zeros(2, 3, RESOLUTION, RESOLUTION)
    with torch.inference_mode():
        assert PooledEncoder(tiny_model, "meanmax")(images).shape == (2, 512)
