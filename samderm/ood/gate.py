"""The gate in front of the lesion classifier: reject an image whose OOD score is above a
threshold chosen on validation data for a target in-distribution recall."""

from __future__ import annotations

import numpy as np
import pandas as pd

REJECTED = "rejected"


def gate_threshold(id_val_scores: np.ndarray, id_recall: float) -> float:
    """The smallest score that accepts (score <= threshold) at least `id_recall` of the
    in-distribution val images."""
    if len(id_val_scores) == 0:
        raise ValueError("the gate threshold needs in-distribution val scores")
    return float(np.quantile(np.asarray(id_val_scores, np.float64), id_recall, method="inverted_cdf"))


def gate_counts(population: str, scores: np.ndarray, predicted: np.ndarray, threshold: float, classes: list[str]) -> pd.DataFrame:
    """One row per lesion class plus `rejected`: how many images of `population` the lesion head
    calls each class without the gate, and with it (rejected ones are counted as `rejected`).
    Both columns sum to the population size."""
    predicted = np.asarray(predicted, dtype=object)
    unknown = sorted(set(predicted) - set(classes))
    if unknown:
        raise ValueError(f"predicted classes {unknown} are not lesion classes {classes}")
    accepted = np.asarray(scores) <= threshold
    rows = [
        {"predicted": c, "n_without_gate": int((predicted == c).sum()), "n_with_gate": int(((predicted == c) & accepted).sum())}
        for c in classes
    ]
    rows.append({"predicted": REJECTED, "n_without_gate": 0, "n_with_gate": int((~accepted).sum())})
    table = pd.DataFrame(rows)
    n = len(predicted)
    table.insert(0, "population", population)
    table["n_population"] = n
    table["fraction_without_gate"] = table["n_without_gate"] / n if n else np.nan
    table["fraction_with_gate"] = table["n_with_gate"] / n if n else np.nan
    return table
