"""OOD metrics with scikit-learn, in the OpenOOD v1.5 convention (OOD is the positive class), and
the false-positive rate at 95% in both conventions the literature uses, each named for what it counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score, roc_curve

from samderm.data.splits import FAR, NEAR, SHIFT

RATE = 0.95  # the 95% of "FPR at 95% TPR"
ID_FLAGGED = "id_flagged_at_95_ood_caught"
OOD_ACCEPTED = "ood_accepted_at_95_id_accepted"
METRICS = ("auroc", "aupr_in", "aupr_out", ID_FLAGGED, OOD_ACCEPTED)
# OOD levels: far and near are semantic OOD (a class the study does not have); shift is covariate shift (an
# external source's images of the study's own classes, e.g. clinical smartphone photographs: a change of camera
# or population, not of class; samderm.data.splits.SHIFT). `all` pools the semantic levels only (far + near,
# external near-OOD rows and held-out classes included), never shift: adding a shift source leaves every `all`
# number as it was, and shift is reported on its own row.
SEMANTIC_LEVELS = (FAR, NEAR)
ALL_LEVELS = "all"  # the ood_level of metrics pooled over every semantic (far or near) OOD test image
LEVEL_ORDER = (FAR, NEAR, SHIFT, ALL_LEVELS)  # the rows of metrics.tsv and the OOD tables; `all` is always last


def pooled_in_all(ood_level) -> np.ndarray:
    """Which OOD rows `all` pools: every OOD level but shift (``ood_level`` empty = in-distribution, not
    pooled; a level other than far/near, e.g. ``all`` for a file written before the levels, is pooled)."""
    level = np.asarray(ood_level, dtype=object).astype(str)
    return (level != "") & (level != SHIFT)


def convention() -> str:
    """The line written above every OOD table."""
    return (
        "OOD is the positive class (OpenOOD v1.5); higher score = more likely OOD; "
        "auroc and aupr_out take OOD as positive, aupr_in takes in-distribution as positive "
        "(areas by the trapezoidal rule); "
        f"{ID_FLAGGED} = fraction of in-distribution images flagged (score >= t) at the highest threshold t "
        "that flags 95% of the OOD images (FPR95 of pytorch-ood; OpenOOD v1.5's code differs only on tied scores, "
        "as its ROC curve drops collinear points); "
        f"{OOD_ACCEPTED} = fraction of OOD images accepted (score <= t) at the lowest threshold t that accepts "
        "at least 95% of the in-distribution images (how the gate sets its threshold). This differs from the "
        "FPR at 95% TPR in the code of the Energy and Mahalanobis papers (the operating point whose TPR is "
        "nearest 95%) and of ODIN (the FPR averaged over thresholds with TPR from 94.95% to 95.05%): for "
        "in-distribution scores 0, 1, ..., 19 and OOD scores 18.2, 18.4, 18.6, 18.8, 25 it is 0.0 here, 0.8 "
        "by the Energy and Mahalanobis code and 0.4 by ODIN's; images tied at t count as flagged in the "
        "first and as accepted in the second"
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


def negatives_passed_at_rate(is_positive: np.ndarray, scores: np.ndarray, rate: float = RATE) -> float:
    """FPR at the first ROC point (thresholds at the unique scores, high to low, so tied images
    enter together) whose TPR reaches `rate`: positives are those with score >= threshold."""
    fpr, tpr, _ = roc_curve(is_positive, scores, drop_intermediate=False)
    return float(fpr[np.searchsorted(tpr, rate, side="left")])


def ood_metrics(id_scores: np.ndarray, ood_scores: np.ndarray) -> dict[str, float]:
    is_ood, scores = _labelled(id_scores, ood_scores)
    precision_out, recall_out, _ = precision_recall_curve(is_ood, scores)
    precision_in, recall_in, _ = precision_recall_curve(1 - is_ood, -scores)
    return {
        "auroc": float(roc_auc_score(is_ood, scores)),
        "aupr_in": float(auc(recall_in, precision_in)),
        "aupr_out": float(auc(recall_out, precision_out)),
        # OOD positive: in-distribution images flagged while 95% of OOD images are caught
        ID_FLAGGED: negatives_passed_at_rate(is_ood, scores),
        # in-distribution positive, scores negated: OOD images accepted while 95% of in-distribution ones are
        OOD_ACCEPTED: negatives_passed_at_rate(1 - is_ood, -scores),
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
