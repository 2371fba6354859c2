"""Training speed and quality at ISIC 2019 scale on synthetic features.

25,331 lesion rows x 256 features in ISIC 2019 class proportions (plus 10% not-skin rows for
the skin task), Gaussian class clusters in a low-dimensional subspace under full-dimensional
noise. Times one training run per loss and architecture of the config, and, side by side in
this run on the lesion task alone, our parallel head vs scikit-learn's MLPClassifier (same
hidden size, epochs, batch size, learning rate, L2 and patience) and LogisticRegression.

    .venv/bin/python benchmarks/train.py [--epochs 60] [--losses wce lmf] [--archs parallel]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from samderm.metrics import macro_f1
from samderm.train import build_run_data, task_classes, train_heads

ISIC2019 = {"MEL": 4522, "NV": 12875, "BCC": 3323, "AK": 867, "BKL": 2624, "DF": 239, "VASC": 253, "SCC": 628}
CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def synthetic(dim: int = 256, signal_dims: int = 12, separation: float = 0.8, seed: int = 0):
    rng = np.random.default_rng(seed)
    classes = list(ISIC2019) + ["not_skin"]
    counts = list(ISIC2019.values()) + [sum(ISIC2019.values()) // 10]
    centres = np.zeros((len(classes), dim))
    centres[:, :signal_dims] = rng.normal(size=(len(classes), signal_dims)) * separation
    label = np.repeat(np.arange(len(classes)), counts)
    features = (centres[label] + rng.normal(size=(len(label), dim))).astype(np.float32)
    split = rng.choice(["train", "val", "test"], size=len(label), p=[0.7, 0.15, 0.15])
    names = np.asarray(classes)[label]
    ids = [f"img{i}" for i in range(len(label))]
    lesion = names != "not_skin"
    malignant = np.isin(names, ["MEL", "BCC", "SCC", "AK"])
    manifest = pd.DataFrame({"image_id": ids, "source": np.where(lesion, "lesion", "not_skin"),
                             "lesion_class": np.where(lesion, names, ""),
                             "malignancy": np.where(lesion, np.where(malignant, "malignant", "benign"), "")})
    views = pd.DataFrame({"view_id": ids, "image_id": ids, "source": manifest["source"], "split": split, "copy": "0"})
    return manifest, views, ids, features


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="exp1")
    parser.add_argument("--epochs", type=int, help="override the experiment's epochs")
    parser.add_argument("--losses", nargs="+", default=list(config["matrix"]["losses"]))
    parser.add_argument("--archs", nargs="+", default=["parallel", "multihead"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the rule uses 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    experiment = dict(config["experiments"][args.experiment])
    if args.epochs:
        experiment["epochs"] = args.epochs
    hidden = config["architectures"]["parallel"]["hidden"]
    manifest, views, ids, features = synthetic()
    labels = {"lesion_classes": list(ISIC2019), "unk": "drop"}
    print(f"{len(ids)} rows x {features.shape[1]} features; experiment {args.experiment}: epochs {experiment['epochs']}, "
          f"batch {experiment['batch_size']}, patience {experiment['patience']}; {args.threads} torch threads\n")

    # side by side on the lesion task alone
    lesion_only = {"lesion": task_classes(labels)["lesion"]}
    data = build_run_data(views, manifest, ids, features, lesion_only)
    train, val, test = (data.rows(s, "lesion") for s in ("train", "val", "test"))
    y = data.labels[:, 0]
    rows = []
    for loss in ("wce",) if "wce" in config["losses"] else args.losses[:1]:
        (model, history), seconds = timed(lambda: train_heads(data, {"type": "parallel", **config["architectures"]["parallel"]},
                                                               config["losses"][loss], experiment, seed=0, device="cpu"))
        with torch.no_grad():
            pred = model(torch.from_numpy(data.features[test]))["lesion"].argmax(1).numpy()
        rows.append(("samderm parallel MLP, " + loss, seconds, history["epoch"].max() + 1, macro_f1(y[test], pred)))
    fit_rows = np.concatenate([train, val])  # sklearn holds out its own validation fraction
    mlp = make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=tuple(hidden), max_iter=experiment["epochs"], batch_size=experiment["batch_size"],
        learning_rate_init=experiment["lr"], alpha=experiment["weight_decay"], early_stopping=True,
        validation_fraction=len(val) / len(fit_rows), n_iter_no_change=experiment["patience"], random_state=0))
    _, seconds = timed(lambda: mlp.fit(data.features[fit_rows], y[fit_rows]))
    rows.append(("sklearn MLPClassifier", seconds, mlp[-1].n_iter_, macro_f1(y[test], mlp.predict(data.features[test]))))
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced"))
    _, seconds = timed(lambda: logreg.fit(data.features[fit_rows], y[fit_rows]))
    rows.append(("sklearn LogisticRegression (balanced)", seconds, logreg[-1].n_iter_[0], macro_f1(y[test], logreg.predict(data.features[test]))))
    base = rows[0][1]
    print("lesion task only (8 classes), test macro-F1:")
    print(f"{'method':40s} {'seconds':>8s} {'epochs':>7s} {'time / ours':>12s} {'macro-F1':>9s}")
    for name, seconds, epochs, f1 in rows:
        print(f"{name:40s} {seconds:8.1f} {epochs:7d} {seconds / base:12.2f} {f1:9.3f}")

    # every loss x architecture, all three tasks
    data = build_run_data(views, manifest, ids, features, task_classes(labels))
    y = data.labels
    test = data.rows("test")
    print("\nall three tasks per loss and architecture (test macro-F1 of skin / lesion / malignancy):")
    print(f"{'loss':8s} {'arch':10s} {'seconds':>8s} {'epochs (per task)':>18s}   macro-F1")
    for loss in args.losses:
        for arch in args.archs:
            (model, history), seconds = timed(lambda: train_heads(data, {"type": arch, **config["architectures"][arch]},
                                                                   config["losses"][loss], experiment, seed=0, device="cpu"))
            with torch.no_grad():
                out = model(torch.from_numpy(data.features[test]))
            f1 = [macro_f1(y[test][y[test, j] >= 0, j], out[t][y[test, j] >= 0].argmax(1).numpy()) for j, t in enumerate(data.tasks)]
            epochs = "/".join(str(history.loc[history["task"] == t, "epoch"].max() + 1) for t in data.tasks)
            print(f"{loss:8s} {arch:10s} {seconds:8.1f} {epochs:>18s}   " + " / ".join(f"{v:.3f}" for v in f1), flush=True)


if __name__ == "__main__":
    main()
