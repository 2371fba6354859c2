"""A plausible external model's predictions on the demo's val and test lesion images (PanDerm's schema with a
``split`` column), so the demo study exercises scoring and the external table. Seeded, no training involved."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from samderm.io import read_tsv
from samderm.metrics.isic import write_csv

log = logging.getLogger(__name__)

HIT_RATE = 0.6  # how often the favoured class is the true one
CONCENTRATION = 8.0  # Dirichlet weight on the favoured class (1 on every class besides)


def demo_external_predictions(splits_tsv: str | Path, manifest_tsv: str | Path, out_csv: str | Path,
                              classes: Sequence[str], seed: int) -> pd.DataFrame:
    """Write and return the file: per val/test lesion image of a class in ``classes``, a favoured class (the
    true one with probability HIT_RATE, else another at random) and probabilities ~ Dirichlet(1 + 8 * favoured)."""
    classes = list(classes)
    manifest = read_tsv(manifest_tsv)
    splits = read_tsv(splits_tsv)[["image_id", "split"]]
    rows = manifest[(manifest["source"] == "lesion") & (manifest["status"] == "ok")
                    & manifest["lesion_class"].isin(classes)][["image_id", "lesion_class"]]
    rows = rows.merge(splits[splits["split"].isin(["val", "test"])], on="image_id", how="inner")
    rows = rows.sort_values("image_id", kind="stable").reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"{manifest_tsv}, {splits_tsv}: no val or test lesion images of the classes {classes}")
    rng = np.random.default_rng(seed)
    k = len(classes)
    labels = rows["lesion_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    other = (labels + rng.integers(1, k, size=len(labels))) % k  # any class but the true one
    favoured = np.where(rng.random(len(labels)) < HIT_RATE, labels, other)
    probabilities = np.empty((len(labels), k))
    for i, f in enumerate(favoured):
        alpha = np.ones(k)
        alpha[f] += CONCENTRATION
        probabilities[i] = rng.dirichlet(alpha)
    table = pd.DataFrame({"filename": rows["image_id"], "true_label": labels,
                          "predicted_label": probabilities.argmax(axis=1)})
    for i in range(k):
        table[f"probability_class_{i}"] = probabilities[:, i]
    table["split"] = rows["split"].to_numpy()
    write_csv(table, out_csv)
    log.info("demo external predictions: %d images (%s) -> %s", len(table),
             ", ".join(f"{s} {n}" for s, n in table["split"].value_counts().sort_index().items()), out_csv)
    return table
