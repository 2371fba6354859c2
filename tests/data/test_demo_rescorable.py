"""The finished demo study: the official ISIC scorer accepts every run's submission, and its
balanced accuracy is ours (it refused runs whose test split missed a class)."""

from __future__ import annotations

import pandas as pd
import pytest

from samderm.io import read_json


def rescore(run_dir) -> float:
    """isic-challenge-scoring's balanced accuracy of one run's isic_submission.csv."""
    from isic_challenge_scoring.classification import ClassificationMetric, ClassificationScore

    return ClassificationScore.from_file(run_dir / "isic_ground_truth.csv", run_dir / "isic_submission.csv",
                                         ClassificationMetric.BALANCED_ACCURACY).overall


@pytest.mark.slow
def test_the_official_scorer_rescores_every_run_of_the_demo_study(finished_study, monkeypatch):
    # isic-challenge-scoring 5.6 calls DataFrame.applymap, which pandas 3 renamed to DataFrame.map
    if not hasattr(pd.DataFrame, "applymap"):
        monkeypatch.setattr(pd.DataFrame, "applymap", pd.DataFrame.map, raising=False)
    runs = sorted(p.parent for p in (finished_study / "results" / "runs").rglob("metrics.json"))
    assert runs, "the study wrote no run"
    refused, differ = [], []
    for run in runs:
        try:
            official = rescore(run)
        except Exception as err:  # noqa: BLE001 - every refusal is reported, not only the first
            refused.append(f"{run}: {type(err).__name__}: {err}")
            continue
        ours = read_json(run / "metrics.json")["tasks"]["lesion"]["test"]["balanced_accuracy"]
        if abs(ours - official) > 1e-9:
            differ.append(f"{run}: ours {ours!r}, official {official!r}")
    assert not refused, f"the official scorer refused {len(refused)} of {len(runs)} runs:\n" + "\n".join(refused)
    assert not differ, "balanced accuracy differs from the official scorer:\n" + "\n".join(differ)
