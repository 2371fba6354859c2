"""Our predictions in PanDerm's per-image schema, so other groups can score them with their own tools:
``filename, true_label, predicted_label, probability_class_0..K-1``, labels as indices into ``classes``."""

from __future__ import annotations

from typing import Sequence

import pandas as pd


def exchange_table(rows: pd.DataFrame, classes: Sequence[str], split: bool = False) -> pd.DataFrame:
    """One task's rows of a run's predictions.tsv (``image_id, label, p_{class}...``; ``split`` too when
    ``split``) in PanDerm's schema; ``predicted_label`` is the argmax, as the run's ``predicted``."""
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(rows["label"].astype(str)) - set(classes))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {classes}")
    probabilities = rows[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
    table = pd.DataFrame({"filename": rows["image_id"].astype(str).to_numpy(),
                          "true_label": rows["label"].astype(str).map(index).to_numpy(dtype=int),
                          "predicted_label": probabilities.argmax(axis=1)})
    for i in range(len(classes)):
        table[f"probability_class_{i}"] = probabilities[:, i]
    if split:
        table["split"] = rows["split"].astype(str).to_numpy()
    return table
