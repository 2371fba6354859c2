"""Whole feature stores: which views, in which order, the settings record, resuming after SIGKILL."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samderm.features.encoder import PooledEncoder
from samderm.features.extract import extract_feature_store, resolve_device
from samderm.features.preprocess import preprocess
from samderm.features.store import load_features, read_store
from samderm.io import digest_sidecar, read_tsv, write_tsv
from tests.damage import damage

from .conftest import RESOLUTION, features_cfg, make_dataset

FULL = {"encoder": "tiny", "pooling": "mean", "resolution": RESOLUTION, "crop": "full"}


def test_images_store_holds_every_ok_image_encoded(dataset, tmp_path, tiny_model, caplog):
    store = tmp_path / "full" / "images"
    with caplog.at_level(logging.INFO):
        extract_feature_store(store, dataset["manifest"], {**FULL, "viewset": "images"}, features_cfg(),
                              {"checkpoint": None})
    ids, feats, settings = read_store(store)
    assert ids == [f"img{i:03d}" for i in range(7)]  # manifest order; the rejected row is not a view
    assert feats.dtype == np.float32 and feats.shape == (7, 256)
    with torch.inference_mode():
        for i, view_id in enumerate(ids):
            image = Image.open(dataset["root"] / f"{view_id}.png").convert("RGB")
            expected = PooledEncoder(tiny_model, "mean")(preprocess(image, RESOLUTION)[None])[0].numpy()
            np.testing.assert_allclose(feats[i], expected, rtol=1e-4, atol=1e-5)
    assert settings["random_weights"] is True and settings["checkpoint_sha256"] is None
    assert (settings["encoder"], settings["resolution"], settings["crop"], settings["pooling"]) == (
        "tiny", RESOLUTION, "full", "mean")
    assert set(settings["versions"]) >= {"torch", "sam2", "numpy"}
    assert settings["crop_fallbacks"] == 0 and read_tsv(store / "crop_fallbacks.tsv").empty
    assert "RANDOM WEIGHTS" in caplog.text
    assert not (tmp_path / "full" / "images.shards").exists()  # shards removed once joined


def test_aug_store_holds_the_augmented_copies_in_float16(dataset, tmp_path):
    store = tmp_path / "full" / "aug-smart"
    extract_feature_store(store, dataset["manifest"], {**FULL, "viewset": "aug-smart", "pooling": "meanmax"},
                          features_cfg(dtype="float16"), {"checkpoint": None}, views=dataset["views"])
    ids, feats = load_features([store])
    assert ids == ["img000__aug1", "img000__aug2", "img001__aug1", "img001__aug2"]
    assert np.load(store / "features.npy").dtype == np.float16 and feats.shape == (4, 512)
    assert not np.allclose(feats[0], feats[1])  # the two copies are rendered differently


def test_aug_view_of_unknown_image_is_named(dataset, tmp_path):
    views = read_tsv(dataset["views"])
    views.loc[views["view_id"] == "img001__aug2", "image_id"] = "broken"  # rejected in the manifest
    write_tsv(views, dataset["views"])
    with pytest.raises(ValueError, match=r"views.tsv line 12 \(view 'img001__aug2'\): image_id 'broken' is not"):
        extract_feature_store(tmp_path / "s", dataset["manifest"], {**FULL, "viewset": "aug-smart"},
                              features_cfg(), {"checkpoint": None}, views=dataset["views"])


def test_stale_shards_from_other_settings_are_discarded(dataset, tmp_path, caplog):
    store = tmp_path / "full" / "images"
    shards = tmp_path / "full" / "images.shards"
    shards.mkdir(parents=True)
    (shards / "fingerprint.json").write_text(json.dumps({"encoder": "large"}))
    np.savez(shards / "00000.features.npz", view_ids=np.array(["img000", "img001", "img002"]),
             features=np.zeros((3, 256), np.float32))
    with caplog.at_level(logging.INFO):
        extract_feature_store(store, dataset["manifest"], {**FULL, "viewset": "images"}, features_cfg(),
                              {"checkpoint": None})
    assert "discarding its shards" in caplog.text and "3 of 3 shards to compute" in caplog.text
    assert np.abs(load_features(store)[1][:3]).sum() > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_auto_device_falls_back_to_cpu_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        assert resolve_device("auto").type == "cpu"
    assert "no GPU visible" in caplog.text
    with pytest.raises(RuntimeError, match="features.device is cuda but torch sees no GPU"):
        resolve_device("cuda")


RUN = """
import json, sys
from samderm.logs import setup_logging
from samderm.features.extract import extract_feature_store
setup_logging(None)
args = json.loads(sys.argv[1])
extract_feature_store(args["store"], args["manifest"], args["fs"], args["cfg"], {"checkpoint": None})
"""


def killed_extraction(tmp_path, at_least: int) -> dict:
    """An extraction of 16 views in 8 shards SIGKILLed once ``at_least`` shards are saved, and what it was given."""
    data = make_dataset(tmp_path / "data", n=16, with_masks=False)
    fs = {**FULL, "resolution": 128, "viewset": "images"}
    cfg = features_cfg(shard_size=2, batch_size=2, num_workers=1)
    killed = tmp_path / "killed" / "images"
    shards = killed.parent / "images.shards"
    args = json.dumps({"store": str(killed), "manifest": str(data["manifest"]), "fs": fs, "cfg": cfg})
    proc = subprocess.Popen([sys.executable, "-c", RUN, args], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while (len(list(shards.glob("*.features.npz"))) < at_least and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the extraction and its DataLoader worker
        proc.wait()
    done = len(list(shards.glob("*.features.npz")))
    assert at_least <= done < 8, f"kill landed after {done} of 8 shards"
    assert not (killed / "features.npy").exists()
    return {"manifest": data["manifest"], "fs": fs, "cfg": cfg, "store": killed, "shards": shards, "done": done}


def resume_and_compare(tmp_path, run: dict, caplog) -> None:
    """Resume the killed extraction, then check it equals one never interrupted."""
    with caplog.at_level(logging.INFO):
        extract_feature_store(run["store"], run["manifest"], run["fs"], run["cfg"], {"checkpoint": None})
    clean = tmp_path / "clean" / "images"
    extract_feature_store(clean, run["manifest"], run["fs"], run["cfg"], {"checkpoint": None})
    for name in ("features.npy", "index.tsv"):
        assert (run["store"] / name).read_bytes() == (clean / name).read_bytes()


def test_rerun_after_sigkill_computes_only_missing_shards_and_matches(tmp_path, caplog):
    run = killed_extraction(tmp_path, at_least=2)
    resume_and_compare(tmp_path, run, caplog)
    assert f"encoder: {8 - run['done']} of 8 shards to compute" in caplog.text


def test_a_damaged_or_unrecorded_shard_is_named_and_computed_again_alone(tmp_path, caplog):
    run = killed_extraction(tmp_path, at_least=5)  # 3 damaged, 2 or more reused
    saved = sorted(run["shards"].glob("*.features.npz"))
    damage(saved[0], "truncated")
    damage(saved[1], "zeroed")
    digest_sidecar(saved[2]).unlink()
    resume_and_compare(tmp_path, run, caplog)
    assert f"encoder: {8 - run['done'] + 3} of 8 shards to compute" in caplog.text  # the missing ones and these 3
    warnings = [r.getMessage() for r in caplog.records if r.name == "samderm.features.shards"]
    assert [w.split(" ")[:2] for w in warnings] == [[str(saved[0]), "is"], [str(saved[1]), "is"], [str(saved[2]), "has"]]
    assert all("This run computes the shard again." in w for w in warnings)
    assert f"{saved[0]} is damaged: " in warnings[0] and f"{saved[2]} has no recorded checksum" in warnings[2]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("encoder, resolution", [
    ({"family": "sam2", "size": "tiny", "checkpoint": None}, 256),  # workers decode, the GPU resizes
    ({"family": "timm", "model": "vit_tiny_patch16_224", "checkpoint": None}, 224),
    ({"family": "sam", "model_type": "vit_b", "checkpoint": None}, 1024),
    ({"family": "open_clip", "model": "ViT-S-32", "checkpoint": None}, 224),
    ({"family": "transformers", "config": "clip_vision_model", "checkpoint": None}, 224),
], ids=["sam2", "timm", "sam", "open_clip", "transformers"])
def test_cuda_bf16_features_match_cpu(dataset, tmp_path, encoder, resolution):
    """The whole CUDA path of each family (pinned batches from workers, channels_last, bf16 autocast)."""
    fs = {**FULL, "encoder": encoder["family"], "resolution": resolution, "viewset": "images"}
    extract_feature_store(tmp_path / "cpu", dataset["manifest"], fs, features_cfg(), encoder)
    extract_feature_store(tmp_path / "gpu", dataset["manifest"], fs, features_cfg(device="cuda", num_workers=2),
                          encoder)
    _, cpu = load_features(tmp_path / "cpu")
    _, gpu = load_features(tmp_path / "gpu")
    cosine = (cpu * gpu).sum(1) / np.linalg.norm(cpu, axis=1) / np.linalg.norm(gpu, axis=1)
    assert cosine.min() > 0.99, cosine  # bf16 autocast changes digits, not what the features say
    assert read_store(tmp_path / "gpu")[2]["device"] == "cuda"


@pytest.mark.skipif(sys.platform != "linux" or not hasattr(ctypes.CDLL(None), "mallinfo2"),
                    reason="glibc's malloc, 2.33 or newer (mallinfo2)")
def test_keep_freed_memory_keeps_a_freed_batch_in_the_heap():
    """Without it glibc returns a batch's freed activations to the OS and the next batch page-faults them in
    again. Read from glibc's own books (mallinfo2), not from page-fault counters, which some sandboxes leave at 0."""
    measure = """
import ctypes, sys, torch
from samderm.features.runtime import keep_freed_memory
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
if sys.argv[1] == "keep":
    keep_freed_memory()
def batch():  # activations alive together, freed together
    activations = [torch.ones(2**21) for _ in range(4)]  # 4 x 8 MiB
kept = []
for _ in range(5):
    batch()
    kept.append(libc.mallinfo2().fordblks)  # free bytes the heap holds on to
print(min(kept))
"""
    # one thread: with several, torch's allocations may come from other arenas
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kept = {mode: int(subprocess.run([sys.executable, "-c", measure, mode], check=True, capture_output=True,
                                     text=True, cwd=Path(__file__).parents[2], env=env).stdout.split()[-1])
            for mode in ("default", "keep")}
    batch_bytes = 4 * 2**23
    assert kept["default"] < batch_bytes / 4, kept  # the default really gives it back (else this guards nothing)
    assert kept["keep"] >= batch_bytes, kept
