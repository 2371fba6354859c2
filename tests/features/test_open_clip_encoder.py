"""The open_clip family: a full open_clip checkpoint loads strictly through open_clip's own loader (and
nothing else does), hf-hub ids load from the local Hugging Face cache only, the preprocessing is
open_clip's own eval transform, and the features are encode_image / the tower before its projection."""

from __future__ import annotations

import json
import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from samderm.features.checkpoint import CheckpointError
from samderm.features.families import build_encoder
from samderm.io import sha256_file

MODEL = "ViT-S-32"  # the smallest built-in ViT (22.6M image tower); width = embed_dim = 384
WIDTH = 384
TINY_TEXT = {"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}
# BiomedCLIP's layout (timm trunk, linear projection head), tiny; its own preprocessing
TIMM_REPO, TIMM_WIDTH = "samderm/tiny-timm-clip", 192
TIMM_CONFIG = {
    "model_cfg": {"embed_dim": 32, "text_cfg": TINY_TEXT,
                  "vision_cfg": {"timm_model_name": "vit_tiny_patch16_224", "timm_model_pretrained": False,
                                 "timm_pool": "", "timm_proj": "linear", "image_size": 224}},
    "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bilinear",
                       "resize_mode": "squash"},
}
RESNET_REPO = "samderm/tiny-resnet-clip"  # a ModifiedResNet tower: no pre_projection feature
RESNET_CONFIG = {"model_cfg": {"embed_dim": 32, "text_cfg": TINY_TEXT,
                               "vision_cfg": {"layers": [1, 1, 1, 1], "width": 16, "image_size": 64}}}
# BiomedCLIP's text side: a Hugging Face BERT tower, built from the text model's cached config.json
BERT_REPO, BIOMED_REPO = "samderm/tiny-bert", "samderm/tiny-biomedclip"
BERT_CONFIG = {"model_type": "bert", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
               "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}
BIOMED_TEXT = {"hf_model_name": BERT_REPO, "hf_tokenizer_name": BERT_REPO, "hf_proj_type": "mlp",
               "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 64}
REVISION = "0123456789abcdef0123456789abcdef01234567"


def _cfg(**keys) -> dict:
    return {"family": "open_clip", "model": MODEL, **keys}


def _image(height=90, width=130, seed=1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


def _batch(size: int) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(5))


# --- a built-in architecture from a local checkpoint -----------------------------------------------


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    """open_clip's own format (the full CLIP state dict) saved from a freshly built ViT-S-32 with
    weights unlike the seeded random ones (~250 MB, tmp only); the model is the reference."""
    torch.manual_seed(7)
    model = open_clip.create_model(MODEL).eval()
    path = tmp_path_factory.mktemp("open_clip") / "vit_s_32.pt"
    torch.save(model.state_dict(), path)
    return model, path, sha256_file(path)


@pytest.fixture(scope="module")
def loaded(vit):
    _, path, digest = vit
    return build_encoder("clip", _cfg(checkpoint=str(path), sha256=digest), 224, "mean")


def test_a_checkpoint_loads_strictly_and_the_feature_is_encode_image(vit, loaded):
    model, _, digest = vit
    assert loaded.family == "open_clip" and loaded.checkpoint_sha256 == digest and loaded.dim == WIDTH
    assert loaded.description["open_clip_model"] == MODEL and "encode_image" in loaded.description["feature"]
    torch.testing.assert_close(loaded.module.tower.conv1.weight, model.visual.conv1.weight)
    # the image tower only: no text tower parameters travel with the module
    assert sum(p.numel() for p in loaded.module.parameters()) == sum(p.numel() for p in model.visual.parameters())
    x = _batch(224)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.module(x), model.encode_image(x))


def test_at_another_resolution_open_clip_resamples_the_position_embedding(vit):
    _, path, digest = vit
    encoder = build_encoder("clip", _cfg(checkpoint=str(path), sha256=digest), 256, "mean")
    reference = open_clip.create_model(MODEL, pretrained=str(path), force_image_size=256).eval()
    assert encoder.module.tower.positional_embedding.shape == (8 * 8 + 1, WIDTH)
    x = _batch(256)
    with torch.inference_mode():
        torch.testing.assert_close(encoder.module(x), reference.encode_image(x))


def test_refuses_a_bad_checksum_a_wrong_key_and_a_wrong_shape(vit, tmp_path):
    from safetensors.torch import save_file

    _, path, _ = vit
    with pytest.raises(CheckpointError, match=r"vit_s_32.pt: sha256 .* does not match"):
        build_encoder("clip", _cfg(checkpoint=str(path), sha256="0" * 64), 224, "mean")
    state = torch.load(path, weights_only=True)
    renamed = {("visual.not_conv1.weight" if k == "visual.conv1.weight" else k): v for k, v in state.items()}
    save_file({k: v.contiguous() for k, v in renamed.items()}, tmp_path / "wrong_key.safetensors")
    with pytest.raises(CheckpointError, match=r"wrong_key.safetensors does not load into open_clip ViT-S-32: "
                                              r".*visual.conv1.weight"):
        build_encoder("clip", _cfg(checkpoint=str(tmp_path / "wrong_key.safetensors")), 224, "mean")
    torch.save({**state, "visual.proj": torch.zeros(WIDTH, 10)}, tmp_path / "wrong_shape.bin")
    with pytest.raises(CheckpointError, match=r"wrong_shape.bin does not load into open_clip ViT-S-32: .*size mismatch"):
        build_encoder("clip", _cfg(checkpoint=str(tmp_path / "wrong_shape.bin")), 224, "mean")


def test_pre_projection_is_the_pooled_token_before_proj(vit):
    model, path, digest = vit
    encoder = build_encoder("clip", _cfg(checkpoint=str(path), sha256=digest, feature="pre_projection"), 224, "mean")
    visual, x = model.visual, _batch(224)
    with torch.inference_mode():
        pooled, _ = visual._pool(visual.transformer(visual._embeds(x)))
        torch.testing.assert_close(pooled @ visual.proj, model.encode_image(x))  # pooled is what proj maps
        torch.testing.assert_close(encoder.module(x), pooled)
    assert encoder.dim == visual.transformer.width == WIDTH and "before proj" in encoder.description["feature"]


def test_an_unknown_feature_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"encoders\.clip\.feature: 'tokens' is not one of"):
        build_encoder("clip", _cfg(feature="tokens"), 224, "mean")
    with pytest.raises(ValueError, match=r"encoders\.clip\.model: open_clip has no model 'ViT-Nope'"):
        build_encoder("clip", _cfg(model="ViT-Nope"), 224, "mean")


# --- preprocessing ----------------------------------------------------------------------------------


def test_preprocessing_is_open_clips_eval_transform_at_the_study_resolution(loaded):
    image = _image()  # not square: resized on its shorter side, centre-cropped
    random160 = build_encoder("clip", _cfg(), 160, "mean")
    for encoder, size in ((loaded, 224), (random160, 160)):
        reference = open_clip.image_transform(size, is_train=False, mean=open_clip.OPENAI_DATASET_MEAN,
                                              std=open_clip.OPENAI_DATASET_STD)
        ours = encoder.preprocess(image)
        assert ours.shape == (3, size, size) and ours.dtype == torch.float32
        torch.testing.assert_close(ours, reference(image), rtol=0, atol=0)
        # it runs in DataLoader workers
        torch.testing.assert_close(pickle.loads(pickle.dumps(encoder.preprocess))(image), ours, rtol=0, atol=0)


# --- random weights ----------------------------------------------------------------------------------


def test_random_weights_are_seeded_and_flagged(caplog):
    with caplog.at_level(logging.WARNING):
        a = build_encoder("clip", _cfg(), 64, "meanmax")
    assert "RANDOM WEIGHTS" in caplog.text and "encoders.clip" in caplog.text
    b = build_encoder("clip", _cfg(), 64, "meanmax")
    x = _batch(64)
    with torch.inference_mode():
        features = a.module(x)
        torch.testing.assert_close(b.module(x), features)
    assert a.checkpoint_sha256 is None and a.dim == 2 * WIDTH and features.shape == (2, 2 * WIDTH)
    torch.testing.assert_close(features[:, :WIDTH], features[:, WIDTH:])  # one position: mean = max


# --- hf-hub ids from the local Hugging Face cache ------------------------------------------------------


def _hub_repo(cache: Path, repo: str, files: dict) -> Path:
    """Hugging Face's cache layout: blobs, a snapshot of symlinks named by the commit, refs/main."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / REVISION
    (root / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(REVISION)
    for filename, write in files.items():
        staged = root / "blobs" / "staged"
        write(staged)
        blob = staged.rename(root / "blobs" / sha256_file(staged))
        (snapshot / filename).symlink_to(f"../../blobs/{blob.name}")
    return snapshot


def _clip_repo(cache, repo: str, config: dict, seed: int, model_class=open_clip.model.CLIP, **overrides):
    """A repo as open_clip's push_to_hf_hub writes it: open_clip_config.json and open_clip_model.safetensors."""
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = model_class(**{**config["model_cfg"], **overrides}).eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    snapshot = _hub_repo(cache, repo, {
        "open_clip_config.json": lambda p: p.write_text(json.dumps(config)),
        "open_clip_model.safetensors": lambda p: save_file(state, p),
    })
    return snapshot, model


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf") / "hub"
    snapshot, model = _clip_repo(cache, TIMM_REPO, TIMM_CONFIG, seed=11)
    _clip_repo(cache, RESNET_REPO, RESNET_CONFIG, seed=12)
    bert = _hub_repo(cache, BERT_REPO, {"config.json": lambda p: p.write_text(json.dumps(BERT_CONFIG))})
    biomed = {"model_cfg": {**TIMM_CONFIG["model_cfg"], "text_cfg": BIOMED_TEXT}}
    # built here from the snapshot folder (a local path), read back by the id from the cache
    _, biomed_model = _clip_repo(cache, BIOMED_REPO, biomed, seed=13, model_class=open_clip.model.CustomTextCLIP,
                                 text_cfg={**BIOMED_TEXT, "hf_model_name": str(bert), "hf_model_pretrained": False})
    return {"cache": cache, "snapshot": snapshot, "state": model.state_dict(), "biomed": biomed_model,
            "sha256": sha256_file(snapshot / "open_clip_model.safetensors")}


@pytest.fixture
def hub_env(hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub["cache"]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub


@pytest.fixture(scope="module")
def hub_reference(hub):
    """open_clip's own load of the cached snapshot at 160 px (timm resizes the trunk after loading)."""
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{hub['snapshot']}", force_image_size=160)
    return model.eval(), preprocess


def test_an_hf_hub_id_loads_from_the_local_cache_with_its_sha256(hub_env, hub_reference):
    encoder = build_encoder("dermlip", {"family": "open_clip", "model": f"hf-hub:{TIMM_REPO}",
                                        "sha256": hub_env["sha256"]}, 160, "mean")
    assert encoder.checkpoint_sha256 == hub_env["sha256"] and encoder.description["hf_revision"] == REVISION
    assert encoder.dim == TIMM_CONFIG["model_cfg"]["embed_dim"]
    torch.testing.assert_close(encoder.module.tower.trunk.blocks[0].attn.qkv.weight,
                               hub_env["state"]["visual.trunk.blocks.0.attn.qkv.weight"])
    model, preprocess = hub_reference
    x = _batch(160)
    with torch.inference_mode():
        torch.testing.assert_close(encoder.module(x), model.encode_image(x))
    # the repo's preprocess_cfg (mean, std, bilinear, squash) at the study's resolution
    image = _image()
    expected = open_clip.image_transform(160, is_train=False, mean=(0.5,) * 3, std=(0.5,) * 3,
                                         interpolation="bilinear", resize_mode="squash")(image)
    torch.testing.assert_close(encoder.preprocess(image), expected, rtol=0, atol=0)
    torch.testing.assert_close(preprocess(image), expected, rtol=0, atol=0)


def test_pre_projection_of_a_timm_trunk_is_its_pooled_output_before_the_head(hub_env, hub_reference):
    encoder = build_encoder("biomedclip", {"family": "open_clip", "model": f"hf-hub:{TIMM_REPO}",
                                           "feature": "pre_projection"}, 160, "mean")
    model, _ = hub_reference
    x = _batch(160)
    with torch.inference_mode():
        trunk = model.visual.trunk(x)
        torch.testing.assert_close(model.visual.head(trunk), model.encode_image(x))  # head is the projection
        torch.testing.assert_close(encoder.module(x), trunk)
    assert encoder.dim == TIMM_WIDTH


def test_hf_hub_refusals_name_the_file_the_id_and_the_cache(hub_env):
    cfg = {"family": "open_clip", "model": f"hf-hub:{TIMM_REPO}", "sha256": "f" * 64}
    with pytest.raises(CheckpointError, match=rf"{REVISION}/open_clip_model.safetensors: sha256 .* does not match"):
        build_encoder("dermlip", cfg, 160, "mean")
    with pytest.raises(CheckpointError) as err:
        build_encoder("dermlip", {"family": "open_clip", "model": "hf-hub:samderm/not-cached"}, 160, "mean")
    assert "samderm/not-cached" in str(err.value) and str(hub_env["cache"]) in str(err.value)
    assert "hf download samderm/not-cached" in str(err.value)
    with pytest.raises(ValueError, match=r"encoders\.rn\.feature: pre_projection .* ModifiedResNet"):
        build_encoder("rn", {"family": "open_clip", "model": f"hf-hub:{RESNET_REPO}", "feature": "pre_projection"},
                      64, "mean")


def test_a_hugging_face_text_tower_is_built_offline_from_its_cached_config(hub_env, tmp_path, monkeypatch):
    encoder = build_encoder("biomedclip", {"family": "open_clip", "model": f"hf-hub:{BIOMED_REPO}"}, 224, "mean")
    x = _batch(224)
    with torch.inference_mode():
        torch.testing.assert_close(encoder.module(x), hub_env["biomed"].encode_image(x))
    without_bert = tmp_path / "hub"
    shutil.copytree(hub_env["cache"], without_bert, symlinks=True)
    shutil.rmtree(without_bert / f"models--{BERT_REPO.replace('/', '--')}")
    monkeypatch.setenv("HF_HUB_CACHE", str(without_bert))
    with pytest.raises(CheckpointError, match=rf"no config.json of hf-hub:{BERT_REPO} .*`hf download {BERT_REPO} "
                                              r"config.json --cache-dir"):
        build_encoder("biomedclip", {"family": "open_clip", "model": f"hf-hub:{BIOMED_REPO}"}, 224, "mean")
