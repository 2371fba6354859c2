"""The official ISIC scorer, made to run on pandas 3."""

from __future__ import annotations

import pandas as pd
import pytest
from isic_challenge_scoring.classification import ClassificationMetric, ClassificationScore


@pytest.fixture
def isic_balanced_accuracy(monkeypatch):
    """Balanced accuracy of a saved submission by isic-challenge-scoring's own file path.
    Its CSV check (5.6.0) calls DataFrame.applymap, which pandas 3 removed; DataFrame.map is
    the same function under its new name (pandas >= 2.1)."""
    if not hasattr(pd.DataFrame, "applymap"):
        monkeypatch.setattr(pd.DataFrame, "applymap", pd.DataFrame.map, raising=False)

    def score(truth_csv, submission_csv) -> float:
        return ClassificationScore.from_file(truth_csv, submission_csv, ClassificationMetric.BALANCED_ACCURACY).overall

    return score
