"""The lesion task's test predictions in the ISIC 2019 formats, so the official scorer
(isic-challenge-scoring) can recheck a run."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from samderm.io import atomic_path


def isic_tables(image_ids: Sequence[str], labels: Sequence[int], probabilities: np.ndarray,
                classes: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(submission, ground truth): ``image`` + one probability column per class, and the
    one-hot truth with the same images and columns."""
    classes = list(classes)
    submission = pd.DataFrame(np.asarray(probabilities, dtype=float), columns=classes)
    submission.insert(0, "image", list(image_ids))
    truth = pd.DataFrame(np.eye(len(classes))[np.asarray(labels, dtype=int)], columns=classes)
    truth.insert(0, "image", list(image_ids))
    return submission, truth


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.8g")
