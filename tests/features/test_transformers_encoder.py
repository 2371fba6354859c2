"""The transformers family: a snapshot saved by transformers itself (tiny CLIP / SigLIP models) loads
strictly, from local files only, with its sha256 mapping; its feature equals transformers' own
pooler_output / get_image_features; its preprocessing equals the library's image processor."""

from __future__ import annotations

import copy
import hashlib
import logging
import pickle
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from samderm.features.checkpoint import CheckpointError
from samderm.features.families import build_encoder
from samderm.io import sha256_file

pytest.importorskip("transformers")

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32,
              patch_size=8)
TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, vocab_size=64,
            max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)
CLIP_SIZE = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
SIGLIP_MEAN = dict(image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.3, 0.4])  # not the defaults: the snapshot's own


def _image(height=70, width=90, seed=1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


def _digests(snapshot) -> dict:
    return {p.name: sha256_file(p) for p in snapshot.iterdir() if p.suffix in (".safetensors", ".bin")}


def _entry(snapshot, **keys) -> dict:
    return {"family": "transformers", "model": str(snapshot), "sha256": _digests(snapshot), **keys}


def _save(model, processor, folder):
    model.save_pretrained(folder)  # safetensors, as the hub's snapshots
    processor.save_pretrained(folder)
    return folder, model.eval()


@pytest.fixture(scope="module")
def clip_snapshot(tmp_path_factory):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(7)  # weights unlike any seeded random ones, so a load is visible
    model = CLIPModel(CLIPConfig(vision_config=VISION, text_config=TEXT, projection_dim=16))
    return _save(model, CLIPImageProcessor(**CLIP_SIZE), tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def siglip_snapshot(tmp_path_factory):
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(8)
    model = SiglipModel(SiglipConfig(vision_config=VISION, text_config=TEXT))
    processor = SiglipImageProcessor(size={"height": 32, "width": 32}, **SIGLIP_MEAN)
    return _save(model, processor, tmp_path_factory.mktemp("siglip"))


@pytest.fixture(scope="module")
def siglip_vision_snapshot(tmp_path_factory):
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(9)
    model = SiglipVisionModel(SiglipVisionConfig(**VISION))
    return _save(model, SiglipImageProcessor(size={"height": 32, "width": 32}), tmp_path_factory.mktemp("sigv"))


def _reference(model, feature, images, interpolate=False):
    """transformers' own feature: the tower's pooler_output, or get_image_features (an output in v5)."""
    with torch.inference_mode():
        if feature == "embedding":
            out = model.get_image_features(pixel_values=images, interpolate_pos_encoding=interpolate)
        else:
            out = getattr(model, "vision_model", model)(pixel_values=images, interpolate_pos_encoding=interpolate)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


# --- loading and the feature ----------------------------------------------------------------


@pytest.mark.parametrize("snapshot, feature, dim", [
    ("clip_snapshot", "pooler", 32), ("clip_snapshot", "embedding", 16),
    ("siglip_snapshot", "pooler", 32), ("siglip_snapshot", "embedding", 32),
    ("siglip_vision_snapshot", "pooler", 32),
])
@pytest.mark.parametrize("resolution", [32, 48])  # the config's image_size, and interpolated position embeddings
def test_feature_equals_transformers_own(request, snapshot, feature, dim, resolution):
    folder, model = request.getfixturevalue(snapshot)
    encoder = build_encoder("enc", _entry(folder, feature=feature), resolution, "mean")
    images = torch.randn(2, 3, resolution, resolution)
    with torch.inference_mode():
        ours = encoder.module(images)
    torch.testing.assert_close(ours, _reference(model, feature, images, interpolate=resolution != 32))
    assert encoder.dim == dim and ours.shape == (2, dim)
    assert encoder.description["interpolate_pos_encoding"] == (resolution != 32)
    assert encoder.description["model_class"] == type(model).__name__


def test_meanmax_doubles_the_vector_and_the_store_records_the_weight_files(clip_snapshot):
    folder, model = clip_snapshot
    digests = _digests(folder)
    encoder = build_encoder("monet", _entry(folder), 32, "meanmax")
    images = torch.randn(3, 3, 32, 32)
    with torch.inference_mode():
        vector = _reference(model, "pooler", images)
        torch.testing.assert_close(encoder.module(images), torch.cat([vector, vector], 1))
    assert encoder.dim == 64 and list(digests) == ["model.safetensors"]
    lines = "".join(f"{k} {v}\n" for k, v in sorted(digests.items()))
    assert encoder.checkpoint_sha256 == hashlib.sha256(lines.encode()).hexdigest()
    assert encoder.description["weight_files"] == digests
    assert encoder.description["family"] == "transformers" and "post_layernorm" in encoder.description["feature"]
    # the text tower is not part of the returned module
    assert not any(k.startswith("text") for k, _ in encoder.module.named_parameters())


def test_a_bfloat16_snapshot_runs_in_float32(clip_snapshot, tmp_path):
    from transformers import CLIPImageProcessor

    half = copy.deepcopy(clip_snapshot[1]).to(torch.bfloat16)  # the module-scoped model stays float32
    folder, _ = _save(half, CLIPImageProcessor(**CLIP_SIZE), tmp_path / "bf16")
    encoder = build_encoder("monet", _entry(folder), 32, "mean")  # transformers 5 would keep bfloat16 ("auto")
    assert {p.dtype for p in encoder.module.parameters()} == {torch.float32}
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        expected = _reference(half.float(), "pooler", images)
        torch.testing.assert_close(encoder.module(images), expected)


def test_null_sha256_warns_and_records_the_digests(clip_snapshot, caplog):
    folder, _ = clip_snapshot
    with caplog.at_level(logging.WARNING):
        encoder = build_encoder("monet", {**_entry(folder), "sha256": None}, 32, "mean")
    assert "sha256 is null" in caplog.text
    assert encoder.description["weight_files"] == _digests(folder)


# --- refusals ------------------------------------------------------------------------------------


def test_refuses_a_bad_digest_and_weight_files_the_mapping_does_not_match(clip_snapshot):
    folder, _ = clip_snapshot
    good = _digests(folder)
    with pytest.raises(CheckpointError, match=r"model.safetensors: sha256 .* does not match the expected 0+"):
        build_encoder("monet", {**_entry(folder), "sha256": {"model.safetensors": "0" * 64}}, 32, "mean")
    with pytest.raises(CheckpointError, match=r"model.safetensors: weight file missing from encoders.monet.sha256"):
        build_encoder("monet", {**_entry(folder), "sha256": {}}, 32, "mean")
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin: listed in encoders.monet.sha256 but not in"):
        build_encoder("monet", {**_entry(folder), "sha256": {**good, "pytorch_model.bin": "1" * 64}}, 32, "mean")


@pytest.mark.parametrize("change, message", [
    ("key", r"missing keys \['vision_model.post_layernorm.weight'\]; unexpected keys \['vision_model.not_a_norm"),
    ("shape", r"size mismatch for visual_projection.weight: \(8, 32\) in the checkpoint, \(16, 32\) in the model"),
])
def test_refuses_wrong_keys_and_wrong_shapes_naming_the_file(clip_snapshot, tmp_path, change, message):
    from safetensors.torch import load_file, save_file

    folder, _ = clip_snapshot
    copy = shutil.copytree(folder, tmp_path / "snapshot")
    state = load_file(copy / "model.safetensors")
    if change == "key":
        state["vision_model.not_a_norm.weight"] = state.pop("vision_model.post_layernorm.weight")
    else:
        state["visual_projection.weight"] = torch.zeros(8, 32)
    save_file(state, copy / "model.safetensors", metadata={"format": "pt"})
    pattern = re.escape(str(copy / "model.safetensors")) + r" does not load into transformers CLIPModel: .*" + message
    with pytest.raises(CheckpointError, match=pattern):
        build_encoder("monet", _entry(copy), 32, "mean")


def test_refuses_bad_entries_naming_the_key(siglip_vision_snapshot, clip_snapshot):
    folder, _ = siglip_vision_snapshot
    with pytest.raises(ValueError, match=r"encoders.medsiglip.feature: embedding needs a full model"):
        build_encoder("medsiglip", _entry(folder, feature="embedding"), 32, "mean")
    with pytest.raises(ValueError, match=r"encoders.medsiglip.feature: 'cls' is not one of"):
        build_encoder("medsiglip", _entry(folder, feature="cls"), 32, "mean")
    with pytest.raises(ValueError, match=r"encoders.monet.url must be null .*`hf download <id>`"):
        build_encoder("monet", _entry(clip_snapshot[0], url="https://example.org/model.safetensors"), 32, "mean")
    with pytest.raises(ValueError, match=r"encoders.monet.config is for random weights only"):
        build_encoder("monet", _entry(clip_snapshot[0], config="clip_vision_model"), 32, "mean")


# --- preprocessing ---------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [32, 48])
def test_preprocessing_equals_the_library_processor(clip_snapshot, siglip_snapshot, resolution):
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    image = _image(70, 90)  # not square: CLIP resizes the short side then centre-crops, SigLIP squashes
    references = {
        "clip": CLIPImageProcessor(size={"shortest_edge": resolution},
                                   crop_size={"height": resolution, "width": resolution}),
        "siglip": SiglipImageProcessor(size={"height": resolution, "width": resolution}, **SIGLIP_MEAN),
    }
    for kind, (folder, _) in {"clip": clip_snapshot, "siglip": siglip_snapshot}.items():
        preprocess = build_encoder(kind, _entry(folder), resolution, "mean").preprocess
        expected = references[kind](images=image, return_tensors="pt")["pixel_values"][0]
        assert expected.shape == (3, resolution, resolution)
        torch.testing.assert_close(preprocess(image), expected, rtol=0, atol=0)
        torch.testing.assert_close(pickle.loads(pickle.dumps(preprocess))(image), expected, rtol=0, atol=0)


# --- the hub cache -----------------------------------------------------------------------------


def _hub_cache(root, repo_id, snapshot, revision="0123456789abcdef0123456789abcdef01234567"):
    """Hugging Face's cache layout: blobs by digest, snapshots/<rev>/ of relative links, refs/main."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    files = repo / "snapshots" / revision
    files.mkdir(parents=True)
    for path in snapshot.iterdir():
        digest = sha256_file(path)
        shutil.copyfile(path, repo / "blobs" / digest)
        (files / path.name).symlink_to(f"../../blobs/{digest}")
    return files


def test_a_model_id_is_found_in_the_local_hub_cache_only(clip_snapshot, tmp_path, monkeypatch):
    folder, model = clip_snapshot
    cache = tmp_path / "hub"
    files = _hub_cache(cache, "suinleelab/monet-tiny", folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    entry = {"family": "transformers", "model": "suinleelab/monet-tiny", "sha256": _digests(folder)}
    encoder = build_encoder("monet", entry, 32, "mean")
    assert encoder.description["snapshot"] == str(files)
    assert encoder.description["transformers_model"] == "suinleelab/monet-tiny"
    images = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(encoder.module(images), _reference(model, "pooler", images))

    missing = {**entry, "model": "suinleelab/not-downloaded"}
    pattern = (r"encoders.monet.model: suinleelab/not-downloaded is not in the Hugging Face hub cache "
               + re.escape(str(cache)))
    with pytest.raises(CheckpointError, match=pattern):
        build_encoder("monet", missing, 32, "mean")
    # checkpoint: a snapshot directory that overrides the lookup; the id is recorded only
    encoder = build_encoder("monet", {**missing, "checkpoint": str(folder)}, 32, "mean")
    assert encoder.description["transformers_model"] == "suinleelab/not-downloaded"
    assert encoder.description["snapshot"] == str(folder)


# --- random weights --------------------------------------------------------------------------------


def test_random_weights_from_a_model_type_are_seeded_and_warn(caplog):
    from transformers import CLIPImageProcessor

    entry = {"family": "transformers", "config": "clip_vision_model"}
    with caplog.at_level(logging.WARNING):
        a = build_encoder("rand", entry, 64, "mean")
    assert "RANDOM WEIGHTS" in caplog.text
    b = build_encoder("rand", entry, 64, "mean")
    images = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(a.module(images), b.module(images), rtol=0, atol=0)
    assert a.dim == 768 and a.checkpoint_sha256 is None and a.description["interpolate_pos_encoding"]
    # clip_vision_model's default processor: CLIP's, at the study's resolution
    image = _image()
    reference = CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64})
    torch.testing.assert_close(a.preprocess(image), reference(images=image, return_tensors="pt")["pixel_values"][0],
                               rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"encoders.rand.config: 'no_such_type' is not a transformers model type"):
        build_encoder("rand", {"family": "transformers", "config": "no_such_type"}, 64, "mean")
