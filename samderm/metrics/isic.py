"""The lesion task's test predictions in the ISIC 2019 formats, so the official scorer
(isic-challenge-scoring) can recheck a run."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from samderm.data.labels import UNK
from samderm.io import atomic_path


def isic_tables(image_ids: Sequence[str], labels: Sequence[int], probabilities: np.ndarray,
                classes: Sequence[str], unk_column: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(submission, ground truth): ``image`` + one probability column per class, and the
    one-hot truth with the same images and columns. ``unk_column`` adds the UNK column of the
    official 2019 test format when the head has no UNK class: probability 0, truth 0 (a head
    trained with UNK, data.unk: keep, already has the column and fills it)."""
    classes = list(classes)
    probabilities = np.asarray(probabilities, dtype=float)
    truth = np.eye(len(classes))[np.asarray(labels, dtype=int)]
    if unk_column and UNK not in classes:
        classes.append(UNK)
        probabilities = np.column_stack([probabilities, np.zeros(len(probabilities))])
        truth = np.column_stack([truth, np.zeros(len(truth))])
    submission = pd.DataFrame(probabilities, columns=classes)
    submission.insert(0, "image", list(image_ids))
    truth = pd.DataFrame(truth, columns=classes)
    truth.insert(0, "image", list(image_ids))
    return submission, truth


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.8g")
