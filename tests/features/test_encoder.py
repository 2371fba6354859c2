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


@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_a_trunk_stage_is_the_output_of_the_hiera_block_that_ends_it(tiny_model, stage):
    """layer: k reads Hiera's stage k before the neck: the block at stage_ends[k - 1], hooked here."""
    trunk = tiny_model.image_encoder.trunk
    seen = {}
    hook = trunk.blocks[trunk.stage_ends[stage - 1]].register_forward_hook(lambda m, i, out: seen.update(out=out))
    images = torch.randn(2, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(stage))
    try:
        with torch.inference_mode():
            ours = PooledEncoder(tiny_model, "meanmax", stage)(images)
    finally:
        hook.remove()
    block = seen["out"]  # B x H x W x C, channels last inside Hiera
    assert block.shape[1:] == (RESOLUTION // 2 ** (stage + 1),) * 2 + (96 * 2 ** (stage - 1),)  # tiny: C = 96
    torch.testing.assert_close(ours, torch.cat([block.mean(dim=(1, 2)), block.amax(dim=(1, 2))], 1))


def test_the_layer_option_builds_one_feature_set_per_stage_and_refuses_others(tiny_model):
    from samderm.features.families import build_encoder

    neck = build_encoder("tiny", {"family": "sam2", "size": "tiny"}, RESOLUTION, "mean")
    stage3 = build_encoder("tiny_s3", {"family": "sam2", "size": "tiny", "layer": 3}, RESOLUTION, "mean")
    assert (neck.dim, neck.description["layer"]) == (256, "neck")
    assert (stage3.dim, stage3.description["layer"]) == (384, 3)
    assert "trunk stage 3 (B x 384 x s/16 x s/16)" in stage3.description["feature"]
    x = torch.randn(1, 3, RESOLUTION, RESOLUTION)
    with torch.inference_mode():
        assert not torch.allclose(neck.module(x)[:, :256], stage3.module(x)[:, :256])
    with pytest.raises(ValueError, match="unknown SAM2 layer 5"):
        PooledEncoder(tiny_model, "mean", 5)
