"""Small generated data for the feature tests: dark round 'lesions' on skin-coloured
backgrounds, their mask files, a manifest and a views table with augmented copies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from samderm.io import write_tsv

RESOLUTION = 64  # encoder input size: tiny SAM2 at 64 px keeps every test fast on 2 cores


def features_cfg(**overrides) -> dict:
    cfg = {
        "pooling": "mean", "batch_size": 2, "num_workers": 0, "dtype": "float32", "shard_size": 3,
        "device": "cpu",
        "crop": {"mask_source": "auto", "margin": 0.1, "min_area": 0.01, "max_area": 0.9, "overlays": 2},
    }
    cfg.update(overrides)
    return cfg


def lesion_image(rng: np.random.Generator, size=(80, 60)) -> tuple[Image.Image, Image.Image, tuple]:
    """A noisy skin-coloured image with a dark ellipse; its mask and the ellipse's box."""
    w, h = size
    pixels = rng.normal((200, 160, 140), 12, size=(h, w, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    x0, y0 = int(rng.integers(5, w // 3)), int(rng.integers(5, h // 3))
    box = (x0, y0, x0 + int(rng.integers(w // 4, w // 2)), y0 + int(rng.integers(h // 4, h // 2)))
    ImageDraw.Draw(image).ellipse(box, fill=(90, 50, 40))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    return image, mask, box


def make_dataset(root: Path, n: int, with_masks: bool, seed: int = 0) -> dict:
    """n images (+ masks), a manifest with one rejected row, and views with 2 copies of 2 images."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        image, mask, _ = lesion_image(rng)
        path = root / f"img{i:03d}.png"
        image.save(path)
        mask_path = ""
        if with_masks:
            mask_path = str(root / f"img{i:03d}_mask.png")
            mask.save(mask_path)
        rows.append({"image_id": f"img{i:03d}", "path": str(path), "source": "lesion", "status": "ok",
                     "reason": "", "mask_path": mask_path})
    rows.append({"image_id": "broken", "path": str(root / "missing.png"), "source": "lesion",
                 "status": "rejected", "reason": "unreadable", "mask_path": ""})
    write_tsv(pd.DataFrame(rows), root / "manifest.tsv")
    views = [{"view_id": f"img{i:03d}", "image_id": f"img{i:03d}", "source": "lesion", "split": "train",
              "copy": "0", "transform": ""} for i in range(n)]
    for i in range(2):
        for k in (1, 2):
            t = {"hflip": k == 1, "vflip": False, "rotation": 30.0 * k, "brightness": 1.1, "contrast": 0.9,
                 "saturation": 1.0, "hue": 0.01}
            views.append({"view_id": f"img{i:03d}__aug{k}", "image_id": f"img{i:03d}", "source": "lesion",
                          "split": "train", "copy": str(k), "transform": json.dumps(t)})
    write_tsv(pd.DataFrame(views), root / "views.tsv")
    return {"manifest": root / "manifest.tsv", "views": root / "views.tsv", "root": root}


@pytest.fixture
def dataset(tmp_path) -> dict:
    return make_dataset(tmp_path / "data", n=7, with_masks=True)


@pytest.fixture(scope="session")
def tiny_model():
    """A random-initialised SAM2.1 tiny at the test resolution, built by the real build_sam2."""
    from samderm.features.encoder import build_sam2_model

    model, _ = build_sam2_model("tiny", RESOLUTION, None)
    return model


@pytest.fixture(scope="session")
def official_checkpoint(tmp_path_factory) -> Path:
    """A random tiny checkpoint in the official format ({"model": state_dict}, ~156 MB, tmp only)."""
    import torch
    from sam2.build_sam import build_sam2

    from samderm.features.encoder import SAM2_CONFIGS

    torch.manual_seed(123)  # weights unlike the RANDOM_WEIGHTS_SEED ones, so a load is visible
    model = build_sam2(SAM2_CONFIGS["tiny"], None, device="cpu",
                       hydra_overrides_extra=[f"++model.image_size={RESOLUTION}"])
    path = tmp_path_factory.mktemp("ckpt") / "sam2.1_hiera_tiny.pt"
    torch.save({"model": model.state_dict()}, path)
    return path


@pytest.fixture
def http_server(tmp_path):
    """A loopback HTTP server for a folder; yields (folder, base url)."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
