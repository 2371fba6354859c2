"""Synthetic runs: manifest, splits and views tables plus features with a class signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

LESION = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
MALIGNANT = {"MEL", "BCC", "SCC", "AK"}
LABELS = {"lesion_classes": LESION, "unk": "drop"}
SPLIT_OF = np.array(["train"] * 6 + ["val"] * 2 + ["test"] * 2)


def synthetic_tables(per_class: int = 20, not_skin: int = 30, dim: int = 16, separation: float = 4.0,
                     augmented: int = 0, seed: int = 0) -> dict:
    """Gaussian class clusters (one centre per lesion class and one for not-skin); split by
    position 6:2:2 in each class. ``augmented`` copies of each lesion train image get their
    own feature rows near the original."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(LESION) + 1, dim)) * separation
    manifest, views, feats, view_ids = [], [], [], []
    groups = [(c, "lesion") for c in LESION] + [("", "not_skin")]
    for k, (cls, source) in enumerate(groups):
        n = not_skin if source == "not_skin" else per_class
        for i in range(n):
            image = f"{source}_{cls or 'x'}_{i}"
            split = SPLIT_OF[i % 10]
            malignancy = ("malignant" if cls in MALIGNANT else "benign") if cls else ""
            manifest.append({"image_id": image, "path": f"{image}.jpg", "source": source, "lesion_class": cls,
                             "malignancy": malignancy, "lesion_id": f"solo_{image}", "status": "ok", "reason": ""})
            x = centres[k] + rng.normal(size=dim)
            views.append({"view_id": image, "image_id": image, "source": source, "split": split, "copy": "0", "transform": ""})
            feats.append(x)
            view_ids.append(image)
            for a in range(1, augmented + 1 if (source == "lesion" and split == "train") else 1):
                vid = f"{image}__aug{a}"
                views.append({"view_id": vid, "image_id": image, "source": source, "split": split, "copy": str(a),
                              "transform": '{"hflip": true}'})
                feats.append(x + 0.1 * rng.normal(size=dim))
                view_ids.append(vid)
    manifest = pd.DataFrame(manifest)
    views = pd.DataFrame(views)
    splits = views[views["copy"] == "0"][["image_id", "split"]].assign(fold="-1")
    return {"manifest": manifest, "views": views, "splits": splits, "view_ids": view_ids,
            "features": np.asarray(feats, dtype=np.float32)}


@pytest.fixture
def tables():
    return synthetic_tables()


EXPERIMENT = {"balancing": "original", "epochs": 15, "lr": 0.01, "weight_decay": 1e-4, "batch_size": 32,
              "patience": 5, "sampler": "instance"}
