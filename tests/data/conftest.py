"""Fixtures for the data tests: tiny ISIC 2019 layouts and image folders written on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samderm.data import isic

from .public_fixtures import LoopbackServer

CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
LABELS = {"lesion_classes": CLASSES[:8], "malignant": ["MEL", "BCC", "SCC"],
          "benign": ["NV", "BKL", "DF", "VASC"], "ak_side": "malignant"}


def write_image(path: Path, seed: int = 0, size: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90) if path.suffix == ".jpg" else Image.fromarray(pixels).save(path)
    return path


def gt_line(image: str, cls: str | None) -> str:
    return ",".join([image] + ["1.0" if c == cls else "0.0" for c in CLASSES])


class IsicLayout:
    """An ISIC 2019 folder: ``add`` writes an image and its CSV rows."""

    def __init__(self, root: Path):
        self.root = root
        self.folder = root / isic.IMAGE_FOLDER
        self.folder.mkdir(parents=True)
        self.gt = ["image," + ",".join(CLASSES)]
        self.meta = ["image,age_approx,anatom_site_general,lesion_id,sex"]

    def add(self, image: str, cls: str | None, lesion_id: str = "", file: bool = True, seed: int = 0):
        if file:
            write_image(self.folder / f"{image}.jpg", seed)
        self.gt.append(gt_line(image, cls))
        self.meta.append(f"{image},55.0,anterior torso,{lesion_id},male")
        return self

    def write(self) -> Path:
        (self.root / isic.GROUND_TRUTH).write_text("\n".join(self.gt) + "\n")
        (self.root / isic.METADATA).write_text("\n".join(self.meta) + "\n")
        return self.root


@pytest.fixture
def isic_layout(tmp_path) -> IsicLayout:
    return IsicLayout(tmp_path / "isic2019")


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    """A not-skin and an OOD folder with two distinct images each."""
    ns, ood = tmp_path / "not_skin", tmp_path / "ood"
    for i in range(2):
        write_image(ns / f"tex{i}.jpg", seed=100 + i)
        write_image(ood / "sub" / f"flower{i}.png", seed=200 + i)
    return ns, ood


@pytest.fixture
def labels_cfg() -> dict:
    return {k: list(v) if isinstance(v, list) else v for k, v in LABELS.items()}


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server of ``tmp_path/www`` (the download tests put the published files there)."""
    www = tmp_path / "www"
    www.mkdir()
    with LoopbackServer(www) as srv:
        yield srv
