"""A small synthetic finished study, written from the file contracts of docs/internals.md."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from samderm.io import write_tsv
from samderm.matrix import Run
from samderm.ood.metrics import METRICS as OOD_METRICS

CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
TASK_CLASSES = {"skin": ["not_skin", "skin"], "lesion": CLASSES, "malignancy": ["benign", "malignant"]}
LABELS = {"lesion_classes": CLASSES, "malignant": ["MEL", "BCC", "SCC"], "benign": ["NV", "BKL", "DF", "VASC"],
          "ak_side": "malignant"}
DETECTORS = ["msp", "odin", "energy", "mahalanobis"]
# the lesion configuration that is best on val, and a different one that is best on test
VAL_BEST = ("exp1", "lmf", "parallel")
TEST_BEST = ("exp1", "wce", "multihead")


@dataclass
class Study:
    root: Path
    run_dirs: list[Path] = field(default_factory=list)
    ood_dirs: list[Path] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"


def split_scores(rng: np.random.Generator, classes: list[str]) -> dict:
    matrix = rng.integers(0, 5, size=(len(classes), len(classes))) + np.eye(len(classes), dtype=int) * 10
    return {
        "accuracy": float(rng.uniform(0.3, 0.6)),
        "balanced_accuracy": float(rng.uniform(0.3, 0.6)),
        "macro_f1": float(rng.uniform(0.3, 0.6)),
        "n": int(matrix.sum()),
        "per_class": {c: {"precision": 0.5, "recall": 0.4, "f1": 0.45, "support": int(row.sum())}
                      for c, row in zip(classes, matrix)},
        "confusion_matrix": matrix.tolist(),
    }


def metrics_json(run: Run, rng: np.random.Generator) -> dict:
    key = (run.experiment, run.loss, run.architecture)
    tasks = {}
    for task, classes in TASK_CLASSES.items():
        scores = {split: split_scores(rng, classes) for split in ("train", "val", "test")}
        if task == "lesion" and key == VAL_BEST:
            scores["val"]["macro_f1"] = 0.9 + 0.01 * run.seed
            scores["test"]["macro_f1"] = 0.2
        if task == "lesion" and key == TEST_BEST:
            scores["val"]["macro_f1"] = 0.1
            scores["test"]["macro_f1"] = 0.99
        tasks[task] = {"classes": classes, **scores}
    return {"run": run.as_dict(), "tasks": tasks}


def write_ood_run(ood_dir: Path, rng: np.random.Generator) -> None:
    metrics, curves, gates = [], [], []
    comment = "OOD is the positive class (OpenOOD v1.5)"
    for head, detector in itertools.product(["skin", "lesion"], DETECTORS):
        params = {"odin": "temperature=1000 epsilon=0.002", "energy": "temperature=1"}.get(detector, "")
        for metric in OOD_METRICS:
            metrics.append({"head": head, "detector": detector, "params": params, "split": "test", "metric": metric,
                            "value": float(rng.uniform(0.5, 1.0)), "n_id": 30, "n_ood": 20,
                            "protocol": "held_out_categories"})
        for level, curve in itertools.product(("far", "near", "all"), ("roc", "pr")):
            x = np.linspace(0, 1, 6)
            y = np.sqrt(x) if curve == "roc" else 1 - 0.3 * x
            curves.append(pd.DataFrame({"head": head, "detector": detector, "ood_level": level, "curve": curve,
                                        "x": x, "y": y, "threshold": np.linspace(1, 0, 6)}))
        for population, n in (("ood", 20), ("lesion", 30)):
            called = rng.multinomial(n, np.ones(len(CLASSES)) / len(CLASSES))
            kept = np.minimum(called, rng.integers(0, 3, len(CLASSES)))
            for cls, c, k in zip(CLASSES + ["rejected"], list(called) + [0], list(kept) + [n - int(kept.sum())]):
                gates.append({"head": head, "detector": detector, "threshold": 0.5, "population": population,
                              "predicted": cls, "malignancy": "", "n_without_gate": int(c), "n_with_gate": int(k),
                              "n_population": n, "fraction_without_gate": c / n, "fraction_with_gate": k / n})
    write_tsv(pd.DataFrame(metrics), ood_dir / "metrics.tsv", comment)
    write_tsv(pd.concat(curves, ignore_index=True), ood_dir / "curves.tsv", comment)
    write_tsv(pd.DataFrame(gates), ood_dir / "gate.tsv", comment)


def write_data(data: Path, rng: np.random.Generator) -> None:
    counts = {"MEL": 12, "NV": 30, "BCC": 8, "AK": 5, "BKL": 7, "DF": 3, "VASC": 3, "SCC": 4}
    rows = []
    for cls, n in counts.items():
        for i in range(n):
            rows.append({"image_id": f"ISIC_{cls}_{i}", "source": "lesion", "lesion_class": cls, "status": "ok"})
    rows.append({"image_id": "ISIC_UNK_0", "source": "lesion", "lesion_class": "UNK", "status": "excluded"})
    rows += [{"image_id": f"ns_{i}", "source": "not_skin", "lesion_class": "", "status": "ok"} for i in range(10)]
    rows += [{"image_id": f"ood_{i}", "source": "ood", "lesion_class": "", "status": "ok"} for i in range(6)]
    rows.append({"image_id": "ood_broken", "source": "ood", "lesion_class": "", "status": "rejected"})
    manifest = pd.DataFrame(rows)
    for column in ("path", "malignancy", "lesion_id", "reason"):
        manifest[column] = ""
    # two images per lesion, so the bootstrap has groups to resample; other sources have no lesion
    lesion = manifest["source"] == "lesion"
    manifest.loc[lesion, "lesion_id"] = [f"L_{i // 2}" for i in range(int(lesion.sum()))]
    write_tsv(manifest, data / "manifest.tsv")
    ok = manifest[manifest["status"] == "ok"]
    splits = rng.choice(["train", "train", "val", "test"], size=len(ok))
    write_tsv(pd.DataFrame({"image_id": ok["image_id"], "split": splits, "fold": -1}), data / "splits.tsv")
    write_tsv(pd.DataFrame({"source": ["lesion", "not_skin", "ood"], "found": [73, 10, 7], "used": [72, 10, 6],
                            "rejected": [0, 0, 1], "excluded": [1, 0, 0]}), data / "counts.tsv")
    for strategy, cap, augment_to in (("original", 10**6, 0), ("smart", 10, 6)):
        balance = []
        for cls, n in counts.items():
            before = sum((ok["lesion_class"] == cls) & (splits == "train"))
            capped = max(0, before - cap)
            augmented = max(0, augment_to - before)
            balance.append({"class": cls, "before": before, "capped": capped, "augmented": augmented,
                            "after": before - capped + augmented})
        write_tsv(pd.DataFrame(balance), data / "balance" / f"{strategy}.tsv")


def write_features(features: Path, rng: np.random.Generator) -> None:
    for crop in ("full", "lesion"):
        store = features / "tiny-mean-r256" / crop / "images"
        store.mkdir(parents=True)
        (store / "settings.json").write_text(json.dumps({
            "encoder": "tiny", "pooling": "mean", "resolution": 256, "crop": crop, "viewset": "images",
            "n_views": 88, "dim": 256, "random_weights": True, "checkpoint_sha256": None,
            "crop_fallbacks": 2 if crop == "lesion" else 0}))
    overlays = features / "tiny-mean-r256" / "lesion" / "images" / "overlays"
    overlays.mkdir()
    for i in range(3):
        pixels = rng.integers(0, 255, size=(32, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(overlays / f"ISIC_{i}.png")


def task_labels(manifest: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """task -> (image_id, split, label) of the val and test images that task applies to."""
    lesion = manifest[manifest["source"] == "lesion"]
    malignant = set(LABELS["malignant"]) | ({"AK"} if LABELS["ak_side"] == "malignant" else set())
    skin = manifest[manifest["source"].isin(["lesion", "not_skin"])]
    return {
        "skin": skin.assign(label=np.where(skin["source"] == "lesion", "skin", "not_skin")),
        "lesion": lesion.assign(label=lesion["lesion_class"]),
        "malignancy": lesion.assign(label=np.where(lesion["lesion_class"].isin(malignant), "malignant", "benign")),
    }


def write_predictions(study: Study, rng: np.random.Generator, perfect: tuple = VAL_BEST) -> None:
    """predictions.tsv of every run (val and test images of the manifest): noisy probabilities that
    favour the true class; the ``perfect`` (experiment, loss, architecture) predicts every lesion right."""
    manifest = pd.read_csv(study.data / "manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    splits = pd.read_csv(study.data / "splits.tsv", sep="\t", dtype=str, keep_default_na=False)
    manifest = manifest.merge(splits[["image_id", "split"]], on="image_id")
    manifest = manifest[manifest["split"].isin(["val", "test"])]
    columns = [f"p_{c}" for classes in TASK_CLASSES.values() for c in classes]
    for run_dir in study.run_dirs:
        key = tuple(run_dir.relative_to(study.root / "runs").parts[:3])
        parts = []
        for task, rows in task_labels(manifest).items():
            classes = TASK_CLASSES[task]
            truth = rows["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
            strength = 30.0 if (task == "lesion" and key == perfect) else 1.5
            logits = rng.normal(size=(len(rows), len(classes))) + strength * np.eye(len(classes))[truth]
            p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            part = pd.DataFrame({"image_id": rows["image_id"].to_numpy(), "split": rows["split"].to_numpy(),
                                 "task": task, "label": rows["label"].to_numpy(),
                                 "predicted": np.asarray(classes)[p.argmax(axis=1)]})
            parts.append(pd.concat([part, pd.DataFrame(p, columns=[f"p_{c}" for c in classes])], axis=1))
        table = pd.concat(parts, ignore_index=True).reindex(columns=["image_id", "split", "task", "label",
                                                                      "predicted", *columns])
        write_tsv(table, run_dir / "predictions.tsv")


def write_ood_scores(study: Study, rng: np.random.Generator) -> None:
    """scores.tsv of every OOD run: test lesion images in distribution, every OOD-source image out;
    mahalanobis separates them far better than the others (higher = more likely OOD)."""
    manifest = pd.read_csv(study.data / "manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    splits = pd.read_csv(study.data / "splits.tsv", sep="\t", dtype=str, keep_default_na=False)
    test = set(splits.loc[splits["split"] == "test", "image_id"])
    ok = manifest[manifest["status"] == "ok"]
    images = ok[((ok["source"] == "lesion") & ok["image_id"].isin(test)) | (ok["source"] == "ood")]
    is_ood = (images["source"] == "ood").to_numpy()
    for ood_dir in study.ood_dirs:
        rows = []
        for head, detector in itertools.product(["skin", "lesion"], DETECTORS):
            shift = 4.0 if detector == "mahalanobis" else 0.5
            rows.append(pd.DataFrame({"image_id": images["image_id"].to_numpy(), "source": images["source"].to_numpy(),
                                      "split": "test", "in_distribution": (~is_ood).astype(int), "head": head,
                                      "detector": detector, "score": rng.normal(size=len(images)) + shift * is_ood}))
        write_tsv(pd.concat(rows, ignore_index=True), ood_dir / "scores.tsv", "score convention: higher = more likely OOD")


def build_study(root: Path) -> Study:
    rng = np.random.default_rng(0)
    study = Study(root)
    for exp, loss, arch, seed in itertools.product(["exp1", "exp6"], ["wce", "lmf"],
                                                   ["parallel", "multihead", "ensemble"], [0, 1]):
        run = Run(exp, loss, arch, "full", "tiny", "mean", 256, seed)
        run_dir = root / "runs" / run.path
        run_dir.mkdir(parents=True)
        (run_dir / "metrics.json").write_text(json.dumps(metrics_json(run, rng)))
        study.run_dirs.append(run_dir)
        if arch != "ensemble":
            ood_dir = root / "ood" / run.path
            ood_dir.mkdir(parents=True)
            write_ood_run(ood_dir, rng)
            study.ood_dirs.append(ood_dir)
    write_data(study.data, rng)
    write_features(root / "features", rng)
    write_predictions(study, rng)
    write_ood_scores(study, rng)
    return study


@pytest.fixture
def study(tmp_path) -> Study:
    """A fresh copy per test, so a test may damage its files."""
    return build_study(tmp_path / "results")
