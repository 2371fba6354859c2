"""The gate judged end to end on the test split: skin head, then an OOD detector, then the lesion head.

Every test image of every source gets exactly one outcome per (head, detector): `rejected_not_skin`
(the skin head calls it not_skin), else `rejected_ood` (detector score > the val-chosen threshold;
ties accepted, as in samderm.ood.gate), else the lesion head's class. The lesion head's detectors are
the gate in front of the lesion classifier (GATE_HEAD); the skin head's detectors are judged the same
way for comparison. Pure functions on arrays and DataFrames.

External test sources (samderm.ood.sets.external_as_test) are judged too: their shift images (level `shift`,
source `external`, category the source's name: clinical photographs of the study's classes) and their
near-OOD images (category `{name}:{label}`). The shift images carry mapped lesion labels, so `end_to_end`
gives, beside the share the gate lets through and the classes the lesion head gives them, the accuracy and
balanced accuracy of the accepted images (`accuracy_accepted`, `balanced_accuracy_accepted`: per group, the
same on every outcome row of the group, like `n_group`; also for the in-distribution lesions, to compare)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from samderm.data.splits import NEAR, SHIFT, is_external_split  # a held-out class is near OOD (the open-set protocol)
from samderm.ood.sets import EXTERNAL_SOURCE, HELD_OUT_PREFIX, external_as_test

REJECTED_NOT_SKIN = "rejected_not_skin"
REJECTED_OOD = "rejected_ood"
REJECTIONS = (REJECTED_NOT_SKIN, REJECTED_OOD)
GATE_HEAD = "lesion"  # the detector that sees what the lesion classifier would see
GROUP_KEYS = ["source", "category", "ood_level"]
IMAGE_COLUMNS = ["image_id", *GROUP_KEYS, "split", "lesion_class", "skin_predicted", "lesion_predicted",
                 "lesion_probability"]
ACCURACY_COLUMNS = ["accuracy_accepted", "balanced_accuracy_accepted"]
OUTCOME_COLUMNS = [*GROUP_KEYS, "outcome", "n", "n_group", "fraction", *ACCURACY_COLUMNS]
CLASS_COLUMNS = ["lesion_class", "n_test", REJECTED_NOT_SKIN, REJECTED_OOD, "accepted", "accepted_correct",
                 "rejected_fraction", "not_skin_fraction", "ood_fraction", "accuracy_accepted"]
CURVE_COLUMNS = ["max_score", "coverage", "risk", "n_accepted", "n_errors", "aurc"]
SOURCES = ("lesion", "not_skin", "ood", EXTERNAL_SOURCE)


class ReconcileError(RuntimeError):
    """The end-to-end counts do not add up to the test images (a bug, never bad input)."""


def gate_head(heads: Sequence[str]) -> str:
    """The head whose detectors gate: the lesion head when it is scored, else the first scored head."""
    if not heads:
        raise ValueError("ood.heads is empty: no detector can gate")
    return GATE_HEAD if GATE_HEAD in heads else heads[0]


def images_of_test_split(manifest: pd.DataFrame, splits: pd.DataFrame, lesion_classes: Sequence[str]) -> pd.DataFrame:
    """One row per test image of every source: image_id, source, category, ood_level, split, lesion_class.
    `category` comes from the manifest, `ood_level` (far | near | shift) from splits.tsv, each empty where absent.
    A lesion whose class the lesion head lacks (a held-out class) is near OOD, category `held_out:{class}`.
    The OOD rows of external test sources are test rows of source `external` (`external_as_test`: split
    `test`, category the manifest's or the source's name); an external row without a level is left out."""
    columns = ["image_id", "split"] + (["ood_level"] if "ood_level" in splits else [])
    test = (splits["split"] == "test") | is_external_split(splits["split"])
    rows = splits.loc[test, columns].merge(manifest.drop(columns="ood_level", errors="ignore"), on="image_id", how="inner")
    if "ood_level" not in rows:
        rows["ood_level"] = ""
    rows = external_as_test(rows)
    rows = rows[rows["source"].isin(SOURCES)].reset_index(drop=True)
    for column in ("category", "ood_level"):
        rows[column] = rows[column].fillna("").astype(str) if column in rows else ""
    held_out = (rows["source"] == "lesion") & ~rows["lesion_class"].isin(lesion_classes)
    rows.loc[held_out, "category"] = HELD_OUT_PREFIX + rows.loc[held_out, "lesion_class"]
    rows.loc[held_out, "source"] = "ood"
    rows.loc[held_out, "ood_level"] = NEAR
    return rows[["image_id", *GROUP_KEYS, "split", "lesion_class"]]


def outcomes(skin_predicted: np.ndarray, scores: np.ndarray, threshold: float, lesion_predicted: np.ndarray) -> np.ndarray:
    """Each image's outcome: the skin head first, then the detector (score > threshold rejects; ties
    are accepted), then the lesion head's class."""
    skin_predicted, lesion_predicted = np.asarray(skin_predicted, object), np.asarray(lesion_predicted, object)
    scores = np.asarray(scores, np.float64)
    if not len(skin_predicted) == len(scores) == len(lesion_predicted):
        raise ValueError(f"outcomes need one skin prediction, score and lesion prediction per image, got "
                         f"{len(skin_predicted)}, {len(scores)} and {len(lesion_predicted)}")
    not_skin = skin_predicted == "not_skin"
    ood = ~not_skin & (scores > threshold)
    return np.where(not_skin, REJECTED_NOT_SKIN, np.where(ood, REJECTED_OOD, lesion_predicted)).astype(object)


def labelled_group(images: pd.DataFrame) -> np.ndarray:
    """The images whose lesion labels the accuracy of the accepted reads: in-distribution lesions and shift
    images (mapped labels); not held-out classes (OOD by design) or other OOD."""
    level = images["ood_level"].fillna("").astype(str)
    return (((images["source"] == "lesion") & (level == "")) | (level == SHIFT)).to_numpy()


def accepted_accuracy(true_class: np.ndarray, outcome: np.ndarray) -> tuple[float, float]:
    """(accuracy, balanced accuracy) of the lesion head on the accepted images (outcome not a rejection) with a
    label: the share called their class, and the mean over their true classes of that share (the recall of
    each class present among the accepted, as sklearn's balanced_accuracy_score). A label the head has no
    output for counts as wrong. NaN when no labelled image is accepted."""
    true_class, outcome = np.asarray(true_class, object), np.asarray(outcome, object)
    mine = ~np.isin(outcome, REJECTIONS) & (pd.Series(true_class).fillna("").astype(str) != "").to_numpy()
    if not mine.any():
        return np.nan, np.nan
    correct = pd.Series(outcome[mine] == true_class[mine])
    return float(correct.mean()), float(correct.groupby(true_class[mine]).mean().mean())


def outcome_table(images: pd.DataFrame, outcome: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Per (source, category, ood_level) group, how many test images end in each outcome (every outcome is a
    row, zeros included). Raises ReconcileError unless each image is counted exactly once. For a group of
    labelled images (`labelled_group`: in-distribution lesions, shift images) and images with `lesion_class`,
    `accuracy_accepted` and `balanced_accuracy_accepted` (`accepted_accuracy`) on every row of the group; NaN
    for the others."""
    labels = [*REJECTIONS, *classes]
    frame = images[GROUP_KEYS].assign(outcome=np.asarray(outcome, object))
    unknown = sorted(set(frame["outcome"]) - set(labels))
    if unknown:
        raise ValueError(f"outcomes {unknown} are neither rejections nor lesion classes {list(classes)}")
    counts = frame.groupby([*GROUP_KEYS, "outcome"], sort=False).size()
    groups = frame[GROUP_KEYS].drop_duplicates()
    full = pd.MultiIndex.from_tuples([(*g, o) for g in groups.itertuples(index=False) for o in labels],
                                     names=[*GROUP_KEYS, "outcome"])
    table = counts.reindex(full, fill_value=0).rename("n").reset_index()
    table["n_group"] = table.groupby(GROUP_KEYS, sort=False)["n"].transform("sum")
    table["fraction"] = table["n"] / table["n_group"]
    accuracy = {}
    if "lesion_class" in images:
        labelled = labelled_group(images)
        for key, rows in frame[labelled].assign(lesion_class=images.loc[labelled, "lesion_class"].to_numpy()).groupby(
                GROUP_KEYS, sort=False):
            accuracy[key] = accepted_accuracy(rows["lesion_class"].to_numpy(), rows["outcome"].to_numpy())
    keys = list(table[GROUP_KEYS].itertuples(index=False, name=None))
    for i, column in enumerate(ACCURACY_COLUMNS):
        table[column] = [accuracy.get(k, (np.nan, np.nan))[i] for k in keys]
    check_reconciles(images, table)
    return table[OUTCOME_COLUMNS]


def check_reconciles(images: pd.DataFrame, table: pd.DataFrame) -> None:
    """Every test image accepted or rejected exactly once: the counts of each group sum to its images,
    and all counts to all images (which must be distinct)."""
    if not images["image_id"].is_unique:
        raise ReconcileError(f"test images listed twice, e.g. {images.loc[images['image_id'].duplicated(), 'image_id'].iloc[0]!r}")
    expected = images.groupby(GROUP_KEYS, sort=False).size()
    counted = table.groupby(GROUP_KEYS, sort=False)["n"].sum()
    if int(table["n"].sum()) != len(images) or not counted.reindex(expected.index).eq(expected).all():
        raise ReconcileError(f"end-to-end counts {counted.to_dict()} do not match the test images {expected.to_dict()}")


def class_rejection(true_class: np.ndarray, outcome: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Per true class of the in-distribution test lesions (every class of the head, also one with a
    single or no test image): how many each stage rejects, how many are accepted and correctly classified."""
    true_class, outcome = np.asarray(true_class, object), np.asarray(outcome, object)
    rows = []
    for c in classes:
        mine = outcome[true_class == c]
        n = len(mine)
        counts = {r: int((mine == r).sum()) for r in REJECTIONS}
        accepted = n - sum(counts.values())
        correct = int((mine == c).sum())
        rows.append({"lesion_class": c, "n_test": n, **counts, "accepted": accepted, "accepted_correct": correct,
                     "rejected_fraction": (n - accepted) / n if n else np.nan,
                     "not_skin_fraction": counts[REJECTED_NOT_SKIN] / n if n else np.nan,
                     "ood_fraction": counts[REJECTED_OOD] / n if n else np.nan,
                     "accuracy_accepted": correct / accepted if accepted else np.nan})
    table = pd.DataFrame(rows, columns=CLASS_COLUMNS)
    if int(table["n_test"].sum()) != len(true_class):
        raise ReconcileError(f"{len(true_class) - int(table['n_test'].sum())} in-distribution test lesion(s) have a class "
                             f"outside {list(classes)}")
    return table


def risk_coverage(scores: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """Selective classification with the detector score as the selection function (lower = accepted
    first): at each distinct score t (`max_score`), accept the images with score <= t (ties together, as the gate);
    coverage = accepted share, risk = error rate of the lesion head on the accepted. `aurc` (area under
    the curve, Geifman et al. 2019) = sum of risk x coverage step; without ties it is the mean risk over
    coverages 1/n .. n/n."""
    scores, correct = np.asarray(scores, np.float64), np.asarray(correct, bool)
    if len(scores) != len(correct):
        raise ValueError(f"risk_coverage needs one score per image, got {len(scores)} scores and {len(correct)} flags")
    if len(scores) == 0:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    order = np.argsort(scores, kind="stable")
    sorted_scores, errors = scores[order], np.cumsum(~correct[order])
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    n_accepted = np.flatnonzero(last_of_tie) + 1
    n_errors = errors[last_of_tie]
    coverage = n_accepted / len(scores)
    risk = n_errors / n_accepted
    curve = pd.DataFrame({"max_score": sorted_scores[last_of_tie], "coverage": coverage, "risk": risk,
                          "n_accepted": n_accepted, "n_errors": n_errors})
    curve["aurc"] = aurc(coverage, risk)
    return curve[CURVE_COLUMNS]


def aurc(coverage: np.ndarray, risk: np.ndarray) -> float:
    """Area under the risk-coverage step curve: each point's risk times its coverage step."""
    coverage, risk = np.asarray(coverage, np.float64), np.asarray(risk, np.float64)
    return float(np.sum(risk * np.diff(coverage, prepend=0.0)))


def judge_gate(images: pd.DataFrame, scores: np.ndarray, threshold: float, classes: Sequence[str]) -> dict[str, pd.DataFrame]:
    """One (head, detector)'s end-to-end tables from the per-image table (IMAGE_COLUMNS, the test split)
    and its scores on those images: `end_to_end_images` (+ score, outcome), `end_to_end`, `class_rejection`, `risk_coverage`."""
    judged = images.assign(score=np.asarray(scores, np.float64), threshold=float(threshold))
    judged["outcome"] = outcomes(judged["skin_predicted"], judged["score"], threshold, judged["lesion_predicted"])
    lesions = judged[judged["source"] == "lesion"]
    return {
        "end_to_end_images": judged,
        "end_to_end": outcome_table(judged, judged["outcome"].to_numpy(), classes),
        "class_rejection": class_rejection(lesions["lesion_class"].to_numpy(), lesions["outcome"].to_numpy(), classes),
        "risk_coverage": risk_coverage(lesions["score"].to_numpy(),
                                       (lesions["lesion_predicted"] == lesions["lesion_class"]).to_numpy()),
    }
