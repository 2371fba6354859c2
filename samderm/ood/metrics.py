"""OOD metrics with scikit-learn, in the OpenOOD v1.5 convention (OOD is the positive class)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score, roc_curve

TPR = 0.95  # FPR at 95% TPR, the convention of OpenOOD v1.5 and the ODIN paper
METRICS = ("auroc", "aupr_in", "aupr_out", "fpr_at_95_tpr")


def convention() -> str:
    """The line written above every OOD table."""
    return (
        "OOD is the positive class (OpenOOD v1.5); higher score = more likely OOD; "
        "auroc and aupr_out take OOD as positive, aupr_in takes in-distribution as positive "
        "(areas by the trapezoidal rule); fpr_at_95_tpr = fraction of in-distribution images flagged "
        "at the first threshold that flags 95% of the OOD images"
    )


def _labelled(id_scores: np.ndarray, ood_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    id_scores, ood_scores = np.asarray(id_scores, np.float64), np.asarray(ood_scores, np.float64)
    if len(id_scores) == 0 or len(ood_scores) == 0:
        raise ValueError(f"OOD metrics need both in-distribution ({len(id_scores)}) and OOD ({len(ood_scores)}) scores")
    scores = np.concatenate([id_scores, ood_scores])
    if np.isnan(scores).any():
        raise ValueError(f"{int(np.isnan(scores).sum())} scores are NaN")
    is_ood = np.concatenate([np.zeros(len(id_scores), int), np.ones(len(ood_scores), int)])
    return is_ood, scores


def ood_metrics(id_scores: np.ndarray, ood_scores: np.ndarray) -> dict[str, float]:
    is_ood, scores = _labelled(id_scores, ood_scores)
    fpr, tpr_curve, _ = roc_curve(is_ood, scores, drop_intermediate=False)
    precision_out, recall_out, _ = precision_recall_curve(is_ood, scores)
    precision_in, recall_in, _ = precision_recall_curve(1 - is_ood, -scores)
    return {
        "auroc": float(roc_auc_score(is_ood, scores)),
        "aupr_in": float(auc(recall_in, precision_in)),
        "aupr_out": float(auc(recall_out, precision_out)),
        # the first ROC point (lowest threshold index) whose TPR reaches the target
        "fpr_at_95_tpr": float(fpr[np.searchsorted(tpr_curve, TPR, side="left")]),
    }


def ood_curves(id_scores: np.ndarray, ood_scores: np.ndarray) -> pd.DataFrame:
    """ROC (x = FPR, y = TPR) and precision-recall (x = recall, y = precision) points, OOD positive."""
    is_ood, scores = _labelled(id_scores, ood_scores)
    fpr, tpr, roc_thresholds = roc_curve(is_ood, scores)
    precision, recall, pr_thresholds = precision_recall_curve(is_ood, scores)
    return pd.concat(
        [
            pd.DataFrame({"curve": "roc", "x": fpr, "y": tpr, "threshold": roc_thresholds}),
            # the last PR point (recall 0, precision 1) has no threshold
            pd.DataFrame({"curve": "pr", "x": recall, "y": precision, "threshold": np.append(pr_thresholds, np.inf)}),
        ],
        ignore_index=True,
    )
