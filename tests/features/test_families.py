"""Each encoder family: its official checkpoint format loads strictly (and nothing else does), its
preprocessing equals its authors' reference, its pooled feature and dimension are as documented."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from PIL import Image

from samderm.features.checkpoint import CheckpointError
from samderm.features.families import build_encoder
from samderm.io import sha256_file

TIMM_MODEL = "vit_tiny_patch16_224"


def _image(height=70, width=90, seed=1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


# --- sam (segment-anything) ---------------------------------------------------------


@pytest.fixture(scope="module")
def sam_checkpoint(tmp_path_factory):
    """The official SAM format (a plain state dict of Sam; MedSAM's medsam_vit_b.pth is the same),
    saved from a freshly built ViT-B with weights unlike the seeded random ones (~375 MB, tmp only)."""
    from segment_anything import sam_model_registry

    torch.manual_seed(321)
    model = sam_model_registry["vit_b"](checkpoint=None)
    path = tmp_path_factory.mktemp("sam") / "sam_vit_b.pth"
    torch.save(model.state_dict(), path)
    return path, model.image_encoder.neck[0].weight.detach().clone()


def test_sam_loads_its_official_checkpoint_strictly_with_sha256(sam_checkpoint):
    path, neck_weight = sam_checkpoint
    encoder = build_encoder("medsam", {"family": "sam", "model_type": "vit_b", "checkpoint": str(path),
                                       "sha256": sha256_file(path)}, 1024, "meanmax")
    assert encoder.checkpoint_sha256 == sha256_file(path) and encoder.dim == 512
    torch.testing.assert_close(encoder.module.image_encoder.neck[0].weight, neck_weight)


def test_sam_refuses_a_bad_checksum_wrong_keys_and_wrong_shapes(sam_checkpoint, tmp_path):
    from samderm.features.sam_encoder import build_sam_model

    path, _ = sam_checkpoint
    with pytest.raises(CheckpointError, match=r"sam_vit_b.pth: sha256 .* does not match"):
        build_sam_model("vit_b", path, "0" * 64)
    state = torch.load(path, weights_only=True)
    renamed = {("image_encoder.not_a_layer" if k == "image_encoder.pos_embed" else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "wrong_key.pth")
    with pytest.raises(CheckpointError, match=r"wrong_key.pth does not load into SAM vit_b: .*image_encoder.pos_embed"):
        build_sam_model("vit_b", tmp_path / "wrong_key.pth")
    state["image_encoder.neck.0.weight"] = torch.zeros(128, 768, 1, 1)
    torch.save(state, tmp_path / "wrong_shape.pth")
    with pytest.raises(CheckpointError, match=r"wrong_shape.pth does not load into SAM vit_b: .*size mismatch"):
        build_sam_model("vit_b", tmp_path / "wrong_shape.pth")


def _sam_encoder_input(image: Image.Image) -> torch.Tensor:
    """What SamPredictor.set_image feeds SAM's image encoder (recorded; the encoder is not run)."""
    from segment_anything import SamPredictor, sam_model_registry

    model = sam_model_registry["vit_b"](checkpoint=None)
    seen = []

    def record(x):
        seen.append(x.clone())
        return torch.zeros(x.shape[0], 256, 64, 64)

    model.image_encoder.forward = record
    SamPredictor(model).set_image(np.asarray(image))
    return seen[0][0]


def test_sam_preprocessing_equals_sam_predictor():
    from samderm.features.sam_encoder import SamPreprocess

    image = _image(300, 400)  # not square: resized to 768 x 1024 and padded at the bottom
    ours = SamPreprocess()(image)
    assert ours.shape == (3, 1024, 1024)
    torch.testing.assert_close(ours, _sam_encoder_input(image), rtol=0, atol=1e-6)
    assert ours[:, 768:].abs().sum() == 0 and (ours[:, :768] != 0).any(0).all()


def test_sam_pools_over_the_cells_that_cover_the_image_only():
    from samderm.features.sam_encoder import SamPooledEncoder, SamPreprocess

    embedding = torch.randn(1, 256, 64, 64)
    model = types.SimpleNamespace(image_encoder=lambda x: embedding)
    images = SamPreprocess()(_image(300, 400))[None]  # 768 of 1024 rows hold pixels: 48 of 64 cell rows
    pooled = SamPooledEncoder(model, "meanmax")(images)
    cells = embedding[:, :, :48, :]
    torch.testing.assert_close(pooled, torch.cat([cells.mean((2, 3)), cells.amax((2, 3))], 1))


# --- timm ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timm_state():
    import timm

    torch.manual_seed(99)
    return timm.create_model(TIMM_MODEL).state_dict()


@pytest.mark.parametrize("fmt", ["safetensors", "pth"])
def test_timm_loads_a_local_checkpoint_strictly(timm_state, tmp_path, fmt):
    path = tmp_path / f"vit_tiny.{fmt}"
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(timm_state, path)
    else:
        torch.save(timm_state, path)
    cfg = {"family": "timm", "model": TIMM_MODEL, "checkpoint": str(path), "sha256": sha256_file(path)}
    encoder = build_encoder("vit", cfg, 224, "mean")
    torch.testing.assert_close(encoder.module.model.blocks[0].attn.qkv.weight, timm_state["blocks.0.attn.qkv.weight"])
    assert encoder.checkpoint_sha256 == sha256_file(path) and encoder.dim == 192


def test_timm_refuses_a_bad_checksum_wrong_keys_and_wrong_shapes(timm_state, tmp_path):
    from samderm.features.timm_encoder import build_timm_model

    torch.save(timm_state, tmp_path / "ok.pth")
    with pytest.raises(CheckpointError, match=r"ok.pth: sha256 .* does not match"):
        build_timm_model(TIMM_MODEL, 224, checkpoint=tmp_path / "ok.pth", sha256="f" * 64)
    wrong_key = {("blocks.0.mlp.not_fc1.weight" if k == "blocks.0.mlp.fc1.weight" else k): v for k, v in timm_state.items()}
    torch.save(wrong_key, tmp_path / "wrong_key.pth")
    with pytest.raises(CheckpointError, match=r"wrong_key.pth does not load into timm .*blocks.0.mlp.fc1.weight"):
        build_timm_model(TIMM_MODEL, 224, checkpoint=tmp_path / "wrong_key.pth")
    torch.save({**timm_state, "blocks.0.mlp.fc1.weight": torch.zeros(10, 192)}, tmp_path / "wrong_shape.pth")
    with pytest.raises(CheckpointError, match=r"wrong_shape.pth does not load into timm .*size mismatch"):
        build_timm_model(TIMM_MODEL, 224, checkpoint=tmp_path / "wrong_shape.pth")


def test_timm_preprocessing_equals_timm_create_transform():
    import timm
    from timm.data import create_transform, resolve_data_config

    encoder = build_encoder("vit", {"family": "timm", "model": TIMM_MODEL, "pretrained": False}, 224, "mean")
    reference = create_transform(**resolve_data_config({}, model=timm.create_model(TIMM_MODEL)))
    image = _image(120, 160)
    torch.testing.assert_close(encoder.preprocess(image), reference(image), rtol=0, atol=0)


def test_timm_feature_is_pooled_patch_tokens_of_forward_features_with_seeded_random_weights():
    cfg = {"family": "timm", "model": TIMM_MODEL, "pretrained": False}
    a, b = build_encoder("vit", cfg, 64, "meanmax"), build_encoder("vit", cfg, 64, "meanmax")
    images = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        tokens = a.module.model.forward_features(images)[:, 1:]  # the class token is left out
        expected = torch.cat([tokens.mean(1), tokens.amax(1)], 1)
        torch.testing.assert_close(a.module(images), expected)
        torch.testing.assert_close(b.module(images), expected)  # same seed, same random weights
    assert a.dim == 2 * 192 and a.checkpoint_sha256 is None


# --- sam2 through the common interface --------------------------------------------------


def test_an_entry_named_after_a_sam2_size_without_family_is_that_size():
    encoder = build_encoder("tiny", {"checkpoint": None}, 64, "max")
    assert encoder.family == "sam2" and encoder.dim == 256
    assert encoder.description["sam2_config"].endswith("sam2.1_hiera_t.yaml")


# --- CUDA paths ----------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name, cfg, res", [
    ("tiny", {"family": "sam2", "size": "tiny"}, 256),
    ("sam", {"family": "sam", "model_type": "vit_b"}, 1024),
    ("vit", {"family": "timm", "model": TIMM_MODEL}, 224),
    ("clip", {"family": "open_clip", "model": "ViT-S-32"}, 224),
    ("hf_clip", {"family": "transformers", "config": "clip_vision_model"}, 224),
])
def test_cuda_bf16_features_follow_cpu(name, cfg, res):
    from samderm.features.extract import FeatureExtractor, FeatureSet

    features = {"pooling": "mean", "batch_size": 2, "num_workers": 0, "dtype": "float32", "shard_size": 4,
                "device": "cuda"}
    image = _image(200, 260)
    fs = FeatureSet(name, "mean", res, "full", "images")
    gpu = FeatureExtractor(fs, features, cfg)
    cpu = build_encoder(name, cfg, res, "mean")
    x = cpu.preprocess(image)[None]
    with torch.inference_mode():
        expected = cpu.module(x).numpy()
    got = gpu.encode(x)
    if gpu.encoder.device_preprocess is not None:  # sam2: the GPU resizes uint8 pixels itself
        from samderm.features.preprocess import pixels

        got = gpu.encode(gpu.encoder.device_preprocess(pixels(image).cuda())[None])
    cos = (got * expected).sum() / np.linalg.norm(got) / np.linalg.norm(expected)
    assert cos > 0.99, cos
