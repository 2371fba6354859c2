"""Synthetic features and small real torch classifiers for the OOD tests.

Four classes in 8 dimensions, with means at +-6 on the first two axes and unit noise; the
"shifted" OOD set sits between the classes (near the origin), where a classifier trained on
the four classes is unsure and far from every class mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

DIM, N_CLASSES = 8, 4
MEANS = np.zeros((N_CLASSES, DIM))
MEANS[[0, 1, 2, 3], [0, 0, 1, 1]] = [6.0, -6.0, 6.0, -6.0]


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """In-distribution features and class labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n)
    return (MEANS[labels] + rng.normal(size=(n, DIM))).astype(np.float32), labels


def shifted(n: int, seed: int) -> np.ndarray:
    """OOD features: the in-distribution noise, moved to the middle between the classes."""
    return (0.5 * np.random.default_rng(seed).normal(size=(n, DIM))).astype(np.float32)


def train_classifier(features: np.ndarray, labels: np.ndarray, seed: int = 0, steps: int = 150) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(DIM, 16), nn.ReLU(), nn.Linear(16, N_CLASSES))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    x, y = torch.as_tensor(features), torch.as_tensor(labels)
    for _ in range(steps):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="session")
def synthetic():
    """Training data, the classifier, in-distribution test features, and three test sets to
    tell apart from them: shifted (between the classes), halfway (towards class 0, harder)
    and identical (a fresh sample of the in-distribution)."""
    train_x, train_y = blobs(400, seed=1)
    model = train_classifier(train_x, train_y)
    return {
        "train": (train_x, train_y),
        "model": model,
        "id": blobs(300, seed=2)[0],
        "shifted": shifted(300, seed=3),
        "halfway": shifted(300, seed=3) + 0.5 * MEANS[0].astype(np.float32),
        "identical": blobs(300, seed=4)[0],
    }


# --- a tiny study on disk, in the layout of docs/internals.md, for the ood_scores step ---

LESION_CLASSES = ["MEL", "NV", "BCC", "AK"]
MALIGNANCY = {"MEL": "malignant", "NV": "benign", "BCC": "malignant", "AK": "malignant"}
RUN_PATH = "exp1/wce/parallel/full/tiny-mean-r256/seed0"
STORE = "results/features/tiny-mean-r256/full/images"
OOD_CONFIG = {
    "heads": ["skin", "lesion"],
    "architectures": ["parallel"],
    "detectors": ["msp", "odin", "energy", "mahalanobis", "maxlogit", "gen", "knn", "vim", "relative_mahalanobis"],
    "odin": {"temperatures": [1, 1000], "epsilons": [0.0, 0.01]},
    "energy": {"temperatures": [1, 10]},
    "knn": {"ks": [5, 20]},
    "vim": {"principal_dims": [4, 8]},
    "gen": {"gammas": [0.1, 1], "top_ms": [2, 4]},
    "tpr": 0.95,
}
SPLIT_SIZES = {"lesion": (100, 30, 30), "not_skin": (24, 8, 8), "ood": (0, 20, 20)}


def study_tables(seed: int = 0):
    """manifest, splits, views and features of a study whose lesion classes sit at +6 on the
    first four axes, not-skin at -6 on the fifth, and OOD images between them."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows, features = [], []
    for source, sizes in SPLIT_SIZES.items():
        for split, n in zip(("train", "val", "test"), sizes):
            for i in range(n):
                image_id = f"{source}_{split}_{i:03d}"
                lesion_class = LESION_CLASSES[i % 4] if source == "lesion" else ""
                centre = np.zeros(DIM)
                if source == "lesion":
                    centre[LESION_CLASSES.index(lesion_class)] = 6.0
                elif source == "not_skin":
                    centre[4] = -6.0
                noise = 0.5 if source == "ood" else 1.0
                features.append(centre + noise * rng.normal(size=DIM))
                rows.append({"image_id": image_id, "path": f"images/{image_id}.jpg", "source": source,
                             "lesion_class": lesion_class, "malignancy": MALIGNANCY.get(lesion_class, ""),
                             "lesion_id": f"solo_{image_id}", "status": "ok", "reason": "", "split": split})
    # an unreadable image: in the manifest, but in no split, view or feature store
    rows.append({"image_id": "broken", "path": "images/broken.jpg", "source": "lesion", "lesion_class": "MEL",
                 "malignancy": "malignant", "lesion_id": "solo_broken", "status": "rejected", "reason": "unreadable", "split": ""})
    table = pd.DataFrame(rows)
    manifest = table.drop(columns="split")
    ok = table[table["status"] == "ok"]
    splits = ok[["image_id", "split"]].assign(fold=-1, ood_protocol=np.where(ok["source"] == "ood", "held_out_categories", ""))
    originals = ok[ok["source"] != "ood"]
    views = originals[["image_id", "source", "split"]].assign(view_id=originals["image_id"], copy=0, transform="")
    # augmented train copies live in another store; the OOD step must not need them
    copies = originals[(originals["split"] == "train") & (originals["source"] == "lesion")].head(5)
    copies = copies[["image_id", "source", "split"]].assign(view_id=copies["image_id"] + "__aug1", copy=1, transform='{"hflip": true}')
    views = pd.concat([views, copies], ignore_index=True)[["view_id", "image_id", "source", "split", "copy", "transform"]]
    return manifest, splits, views, ok["image_id"].tolist(), np.asarray(features, dtype=np.float32)


def train_head(manifest, views, view_ids, features, seed: int = 0, classes=LESION_CLASSES):
    """A real samderm HeadModel trained briefly on the skin and lesion tasks (on the images of
    ``classes`` and not-skin only)."""
    from samderm.heads import HeadModel

    torch.manual_seed(seed)
    model = HeadModel("parallel", {"skin": ["not_skin", "skin"], "lesion": list(classes)}, DIM, hidden=[16], dropout=0.0)
    model.set_standardisation(torch.as_tensor(features.mean(0)), torch.as_tensor(features.std(0)))
    row = {v: i for i, v in enumerate(view_ids)}
    train = views[(views["split"] == "train") & (views["copy"] == 0)].merge(manifest[["image_id", "lesion_class"]], on="image_id")
    train = train[(train["source"] != "lesion") | train["lesion_class"].isin(list(classes))].reset_index(drop=True)
    x = torch.as_tensor(features[[row[i] for i in train["image_id"]]])
    skin = torch.as_tensor((train["source"] == "lesion").to_numpy().astype(int))
    lesion_rows = torch.as_tensor((train["source"] == "lesion").to_numpy().copy())
    lesion = torch.as_tensor([list(classes).index(c) for c in train.loc[lesion_rows.numpy(), "lesion_class"]])
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(80):
        optimiser.zero_grad()
        out = model(x)
        loss = nn.functional.cross_entropy(out["skin"], skin) + nn.functional.cross_entropy(out["lesion"][lesion_rows], lesion)
        loss.backward()
        optimiser.step()
    return model.eval()


def write_study(root, seed: int = 0, ood_test_shift: float = 0.0):
    """The ood_scores inputs under `root`, at the paths the rule names. `ood_test_shift` moves
    only the OOD test features towards class MEL (the model is trained before the move)."""
    from samderm.features.store import write_store
    from samderm.heads import save_head
    from samderm.io import write_tsv

    manifest, splits, views, view_ids, features = study_tables(seed)
    model = train_head(manifest, views, view_ids, features, seed)
    ood_test = np.array([i.startswith("ood_test") for i in view_ids])
    features[ood_test, 0] += ood_test_shift
    write_tsv(manifest, root / "results/data/manifest.tsv")
    write_tsv(splits, root / "results/data/splits.tsv")
    write_tsv(views, root / "results/data/views/original.tsv")
    write_store(root / STORE, view_ids, [features], DIM, "float32", {"encoder": "tiny", "checkpoint_sha256": None})
    save_head(model, root / "results/runs" / RUN_PATH / "model.pt")
    return root


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return write_study(tmp_path_factory.mktemp("study"))
