"""A tiny study for the predict tests: generated lesion images, two feature stores made by the study's
own code (a timm encoder from a checkpoint file on full images; random SAM2 tiny on lesion crops,
masks from files for some images and from SAM2 for the rest), freshly trained heads, and its bundle."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from samderm.features.extract import extract_feature_store
from samderm.features.masks import segment_lesions
from samderm.features.store import load_features
from samderm.heads import HeadModel, save_head
from samderm.io import read_tsv, write_tsv
from samderm.matrix import Run
from samderm.predict.bundle import GateSpec, HeadSpec, write_bundle
from samderm.predict.study import feature_set_entry
from tests.features.conftest import features_cfg, make_dataset

RESOLUTION = 64
TASKS = {"skin": ["not_skin", "skin"], "lesion": ["MEL", "NV", "BKL"], "malignancy": ["benign", "malignant"]}
N_IMAGES = 6
WITH_MASK_FILES = 3  # the first images have mask files; SAM2 segments the others


def train_head(features: np.ndarray, arch: str, seed: int) -> HeadModel:
    """A head trained for a few steps on random labels: its numbers are what the bundle must carry."""
    torch.manual_seed(seed)
    model = HeadModel(arch, TASKS, features.shape[1], hidden=[16], dropout=0.0)
    x = torch.from_numpy(features)
    model.set_standardisation(x.mean(0), x.std(0))
    labels = {t: torch.randint(len(c), (len(x),)) for t, c in TASKS.items()}
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(20):
        logits = model(x)
        loss = sum(torch.nn.functional.cross_entropy(logits[t], labels[t]) for t in TASKS)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tiny_study")
    data = make_dataset(root / "data", n=N_IMAGES, with_masks=True)
    manifest = read_tsv(data["manifest"])
    manifest.loc[manifest.index >= WITH_MASK_FILES, "mask_path"] = ""
    write_tsv(manifest, data["manifest"])
    # the images to predict, apart from their mask files (which are .png too)
    images, masks = root / "new_images", root / "new_masks"
    images.mkdir()
    masks.mkdir()
    for i in range(N_IMAGES):
        shutil.copy(data["root"] / f"img{i:03d}.png", images)
        if i < WITH_MASK_FILES:
            shutil.copy(data["root"] / f"img{i:03d}_mask.png", masks)

    torch.manual_seed(7)
    import timm

    checkpoint = root / "vit.pth"
    torch.save(timm.create_model("vit_tiny_patch16_224", img_size=RESOLUTION).state_dict(), checkpoint)
    sam2 = {"family": "sam2", "size": "tiny", "checkpoint": None, "sha256": None, "url": None}
    config = {"encoders": {"sam": sam2, "vit": {"family": "timm", "model": "vit_tiny_patch16_224", "pretrained": False,
                                                "checkpoint": str(checkpoint), "sha256": None}}}
    crop = {"mask_source": "auto", "segmenter": "sam", "resolution": RESOLUTION, "margin": 0.1, "min_area": 0.01,
            "max_area": 0.9}
    cfg = features_cfg(crop=crop)
    results = root / "results"
    mask_dir = results / "features" / "masks" / "images"
    segment_lesions(mask_dir, data["manifest"], "images", "auto", "sam", sam2, RESOLUTION, cfg)
    runs = {"heads": Run("exp", "wce", "parallel", "full", "vit", "mean", RESOLUTION, 0),
            "gate": Run("exp", "wce", "multihead", "lesion", "sam", "mean", RESOLUTION, 0)}
    stores, models = {}, {}
    for key, run in runs.items():
        stores[key] = results / "features" / run.feature_set / run.crop / "images"
        extract_feature_store(stores[key], data["manifest"], {"encoder": run.encoder, "pooling": run.pooling,
                              "resolution": run.resolution, "crop": run.crop, "viewset": "images"}, cfg,
                              config["encoders"][run.encoder], masks=mask_dir if run.crop == "lesion" else None)
        ids, features = load_features(stores[key])
        models[key] = results / "runs" / run.path / "model.pt"
        save_head(train_head(features, run.architecture, seed=len(key)), models[key])

    ids, gate_features = load_features(stores["gate"])
    gate_labels = np.arange(len(ids)) % len(TASKS["lesion"])
    fs = {key: {"encoder": r.encoder, "pooling": r.pooling, "resolution": r.resolution, "crop": r.crop}
          for key, r in runs.items()}
    temperatures = {"skin": 1.5, "lesion": 0.7, "malignancy": None}
    heads = {t: HeadSpec(models["heads"], runs["heads"].as_dict(), fs["heads"], temperatures[t]) for t in TASKS}
    # a threshold inside the scores, so some images pass the gate and some do not
    from samderm.ood import Mahalanobis

    threshold = float(np.median(Mahalanobis().fit(gate_features, gate_labels).predict(gate_features)))
    gate = GateSpec(models["gate"], runs["gate"].as_dict(), fs["gate"], "lesion", "mahalanobis", {},
                    threshold=threshold, fit_features=gate_features, fit_labels=gate_labels)
    feature_sets = {f"{r.feature_set}/{r.crop}": feature_set_entry(config, r, results) for r in runs.values()}
    segmenter = {"encoder": "sam", "encoder_config": sam2, "checkpoint_sha256": None, "random_weights": True,
                 "random_seed": 0, "mask_source": "auto"}
    bundle = root / "models"
    write_bundle(bundle, heads, gate, feature_sets, {"batch_size": cfg["batch_size"], "dtype": "float32",
                 "shard_size": cfg["shard_size"], "crop": crop}, segmenter,
                 {"MEL": "malignant", "NV": "benign", "BKL": "benign"}, "0" * 64)
    return {"root": root, "bundle": bundle, "images": images, "masks": masks, "stores": stores, "models": models,
            "checkpoint": checkpoint, "threshold": threshold, "gate_labels": gate_labels, "temperatures": temperatures, "ids": ids}


def study_probabilities(study: dict, task: str) -> pd.DataFrame:
    """The task's probabilities of the study's own path: the store's features through load_head."""
    from samderm.heads import load_head

    ids, features = load_features(study["stores"]["heads"])
    p = load_head(study["models"]["heads"]).predict_proba(torch.from_numpy(features))[task].numpy()
    return pd.DataFrame(p, index=[f"{i}.png" for i in ids], columns=[f"{task}_p_{c}" for c in TASKS[task]])
