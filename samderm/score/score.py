"""Score one file of external predictions like a study's run: the classification metrics of metrics.json, their
percentile intervals over resampled groups, calibration, one-vs-rest AUROC and, where the file has val rows,
operating points at thresholds chosen on them.

Output folder: ``metrics.json``, ``intervals.tsv``, ``calibration.tsv``, ``class_auroc.tsv``,
``operating_points.tsv`` (header only, the reason logged and in metrics.json, without val rows) and
``predictions.tsv`` (the scored rows in a run's schema plus ``group``, for the paired comparison)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.data.labels import ISIC_CLASSES, UNK
from samderm.io import read_tsv, write_json, write_tsv
from samderm.metrics.bootstrap import METRICS, full_sample, group_weights, percentile_interval, resampled_metrics
from samderm.metrics.calibration import calibration_metrics
from samderm.metrics.classification import classification_metrics
from samderm.metrics.operating_points import (AUROC_COLUMNS, OPERATING_POINT_COLUMNS, class_score, one_vs_rest_auroc,
                                              operating_points)
from samderm.report.predictions import group_column as manifest_group_column
from samderm.score.read import ExternalPredictions, PredictionsError, match_ids, read_external

log = logging.getLogger(__name__)

OUTPUT_FILES = ("metrics.json", "intervals.tsv", "calibration.tsv", "class_auroc.tsv", "operating_points.tsv",
                "predictions.tsv")
CALIBRATION_METRICS = ("ece_width", "ece_mass", "nll", "brier")
INTERVAL_COLUMNS = ["task", "metric", "value", "low", "high", "n_images", "n_groups", "n_resamples", "level",
                    "groups"]
# groups: a column of the file, the study's manifest (image_id -> group_id or lesion_id), or each image alone
GROUPS_MANIFEST, GROUPS_IMAGE = "manifest", "image"
TASK_CLASSES = {"skin": {"not_skin", "skin"}, "malignancy": {"benign", "malignant"}}


def infer_task(classes: Sequence[str]) -> str:
    """The study task these classes belong to: skin, malignancy, lesion (ISIC classes, UNK allowed), else external."""
    for task, names in TASK_CLASSES.items():
        if set(classes) == names:
            return task
    return "lesion" if set(classes) <= {*ISIC_CLASSES, UNK} else "external"


def resolve_groups(predictions: ExternalPredictions, manifest_tsv: str | Path | None) -> tuple[np.ndarray, str]:
    """The resampling group of every scored row and where it comes from."""
    if predictions.groups is not None:
        return predictions.groups, "the file's group column"
    ids = predictions.image_ids
    if manifest_tsv is None:
        return np.char.add("image:", ids.astype(str)), "each image its own group"
    manifest = read_tsv(manifest_tsv)
    column = manifest_group_column(manifest)
    known = manifest.set_index("image_id")[column]
    matched = match_ids(ids, set(known.index))
    absent = ~np.isin(matched, known.index)
    if absent.any():
        raise PredictionsError(f"{predictions.source}: {int(absent.sum())} image(s) have no row in {manifest_tsv}, "
                               f"e.g. {list(ids[absent][:3])}; give a group column, or score without groups")
    found = known.reindex(matched).to_numpy(dtype=str)
    return np.where(found == "", np.char.add("image:", ids.astype(str)), found), f"{column} of {manifest_tsv}"


def resampled_calibration(weights: np.ndarray, labels: np.ndarray, probabilities: np.ndarray,
                          n_bins: int) -> np.ndarray:
    """(resamples, CALIBRATION_METRICS): each resample's images repeated as often as drawn (a weight is a repeat,
    as in samderm.metrics.bootstrap), so ECE's equal-mass bins are those of the resample."""
    out = np.empty((len(weights), len(CALIBRATION_METRICS)))
    for r, w in enumerate(weights.astype(int)):
        rows = np.repeat(np.arange(len(labels)), w)
        values = calibration_metrics(probabilities[rows], labels[rows], n_bins)
        out[r] = [values[m] for m in CALIBRATION_METRICS]
    return out


def _interval_rows(task: str, names: Sequence[str], point: np.ndarray, resampled: np.ndarray, groups: np.ndarray,
                   level: float, source: str) -> pd.DataFrame:
    low, high = percentile_interval(resampled, level)
    return pd.DataFrame([[task, m, point[i], low[i], high[i], len(groups), len(set(groups)), len(resampled), level,
                          source] for i, m in enumerate(names)], columns=INTERVAL_COLUMNS)


def _operating_points(predictions: ExternalPredictions, task: str, weights: np.ndarray, groups: np.ndarray,
                      level: float) -> tuple[pd.DataFrame, list[str]]:
    """Operating points of each target (the second class of a binary task, else every class one-vs-rest) at
    thresholds chosen on the file's own val rows; the reasons for any left out."""
    columns = ["task", *OPERATING_POINT_COLUMNS]
    if not predictions.has_split or len(predictions.rows("val")) == 0:
        reason = ("no val rows (the file has no split column)" if not predictions.has_split else "no val rows") + \
            ": an operating point's threshold is chosen on val and applied to test, so only the one-vs-rest " \
            "AUROC (threshold-free) is reported"
        return pd.DataFrame(columns=columns), [reason]
    val, test = predictions.rows("val"), predictions.rows("test")
    targets = [predictions.classes[1]] if len(predictions.classes) == 2 else list(predictions.classes)
    frames, reasons = [], []
    for target in targets:
        val_positive, val_score = class_score(predictions.labels[val], predictions.probabilities[val],
                                              predictions.classes, target)
        test_positive, test_score = class_score(predictions.labels[test], predictions.probabilities[test],
                                                predictions.classes, target)
        try:
            frame = operating_points(val_positive, val_score, test_positive, test_score, weights, groups,
                                     target=target, level=level)
        except ValueError as why:  # e.g. a class without val positives
            reasons.append(f"{target}: {why}")
            continue
        frames.append(frame.assign(task=task)[columns])
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return table, reasons


def prediction_rows(predictions: ExternalPredictions, task: str, groups: np.ndarray) -> pd.DataFrame:
    """The scored rows in a run's predictions.tsv schema, plus each image's resampling ``group``."""
    classes = np.asarray(predictions.classes)
    table = pd.DataFrame({"image_id": predictions.image_ids, "split": predictions.splits, "task": task,
                          "label": classes[predictions.labels],
                          "predicted": classes[predictions.probabilities.argmax(axis=1)]})
    for i, c in enumerate(predictions.classes):
        table[f"p_{c}"] = predictions.probabilities[:, i]
    table["group"] = groups
    return table


def score_external(predictions: ExternalPredictions, out_dir: str | Path, *, task: str | None = None,
                   manifest_tsv: str | Path | None = None, n_resamples: int = 1000, level: float = 0.95,
                   seed: int = 0, n_bins: int = 10) -> dict[str, Any]:
    """Write the output folder (module docstring) of one read file; returns metrics.json's content."""
    out = Path(out_dir)
    task = task or infer_task(predictions.classes)
    classes = predictions.classes
    all_groups, source = resolve_groups(predictions, manifest_tsv)
    test = predictions.rows("test")
    labels, probabilities, groups = predictions.labels[test], predictions.probabilities[test], all_groups[test]
    weights = group_weights(groups, n_resamples, seed)
    log.info("%s: task %s, %d test images in %d groups (%s), %d resamples (seed %d)", predictions.source, task,
             len(test), len(set(groups)), source, n_resamples, seed)

    point = resampled_metrics(full_sample(len(labels)), labels, probabilities)[0]
    intervals = _interval_rows(task, METRICS, point, resampled_metrics(weights, labels, probabilities), groups,
                               level, source)
    calibration_point = calibration_metrics(probabilities, labels, n_bins)
    calibration = _interval_rows(task, CALIBRATION_METRICS, [calibration_point[m] for m in CALIBRATION_METRICS],
                                 resampled_calibration(weights, labels, probabilities, n_bins), groups, level, source)
    calibration["n_bins"] = n_bins
    auroc = one_vs_rest_auroc(labels, probabilities, classes, weights, groups, level=level)
    auroc.insert(0, "task", task)
    points, reasons = _operating_points(predictions, task, weights, groups, level)
    for reason in reasons:
        log.warning("%s: operating points left out: %s", predictions.source, reason)

    block: dict[str, Any] = {"classes": list(classes)}
    val = predictions.rows("val")
    if len(val):
        block["val"] = classification_metrics(predictions.labels[val], predictions.probabilities[val].argmax(axis=1),
                                              classes)
    block["test"] = classification_metrics(labels, probabilities.argmax(axis=1), classes)
    block["test"]["auroc"] = float(point[METRICS.index("auroc")])
    block["test"]["calibration"] = {**calibration_point, "n_bins": n_bins}
    metrics = {"source": {"path": predictions.source, "format": predictions.format, "counts": predictions.counts},
               "bootstrap": {"groups": source, "n_groups": len(set(groups)), "n_resamples": n_resamples,
                             "level": level, "seed": seed},
               "operating_points": {"chosen_on": "the file's val rows" if not points.empty else None,
                                    "left_out": reasons},
               "tasks": {task: block}}
    write_tsv(prediction_rows(predictions, task, all_groups), out / "predictions.tsv")
    write_tsv(intervals, out / "intervals.tsv")
    write_tsv(calibration, out / "calibration.tsv")
    write_tsv(auroc[["task", *AUROC_COLUMNS]], out / "class_auroc.tsv")
    write_tsv(points, out / "operating_points.tsv")
    write_json(metrics, out / "metrics.json")
    log.info("%s: accuracy %.4f, balanced accuracy %.4f, macro-F1 %.4f, AUROC %.4f -> %s", predictions.source,
             *point, out)
    return metrics


def score_file(path: str | Path, out_dir: str | Path, *, format: str = "auto", classes: Sequence[str] | None = None,
               class_map: Mapping | str | Path | None = None, ground_truth: str | Path | None = None,
               groups: str | None = None, manifest_tsv: str | Path | None = None, task: str | None = None,
               n_resamples: int = 1000, level: float = 0.95, seed: int = 0, n_bins: int = 10) -> dict[str, Any]:
    """Read ``path`` and score it into ``out_dir``. ``groups``: a column of the file, ``manifest`` (image_id ->
    group of ``manifest_tsv``), ``image`` or None (the manifest when given, else each image its own group)."""
    use_manifest = groups == GROUPS_MANIFEST or (groups is None and manifest_tsv is not None)
    if use_manifest and manifest_tsv is None:
        raise PredictionsError(f"{path}: groups from the manifest, but no manifest given")
    column = None if groups in (None, GROUPS_MANIFEST, GROUPS_IMAGE) else groups
    predictions = read_external(path, format=format, classes=classes, class_map=class_map,
                                ground_truth=ground_truth, group_column=column)
    return score_external(predictions, out_dir, task=task, manifest_tsv=manifest_tsv if use_manifest else None,
                          n_resamples=n_resamples, level=level, seed=seed, n_bins=n_bins)
