"""The external predictions table: each scored external file beside the study's best model of its task (chosen on
val) on the same test images, and the paired difference external - study with its interval from the same
group resamples."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Collection, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.io import read_tsv
from samderm.metrics.bootstrap import (INTERVAL_SCOPE, METRICS, bootstrap_p_value, full_sample, group_weights,
                                       percentile_interval, resampled_metrics)
from samderm.report.aggregate import CONFIG_KEYS, ResultsError, read_runs
from samderm.report.claims import config_text
from samderm.report.intervals import config_of
from samderm.report.predictions import TaskPredictions, check_same_images, read_predictions
from samderm.report.selection import open_set_rows, select_best
from samderm.report.tables import write_table
from samderm.score.read import match_ids

log = logging.getLogger(__name__)

EXTERNAL_COLUMNS = ["name", "task", "metric", "external_value", "external_low", "external_high", "study_value",
                    "study_low", "study_high", "difference_value", "difference_low", "difference_high", "p_value",
                    "n_images", "n_groups", "n_external_test", "study", "n_seeds"]


def read_scored(predictions_tsv: str | Path) -> dict[str, tuple[TaskPredictions, np.ndarray]]:
    """task -> (test predictions, their groups) of one scored external folder's predictions.tsv."""
    table = read_tsv(predictions_tsv)
    if "group" not in table.columns:
        raise ResultsError(f"{predictions_tsv}: no group column (written by samderm.score)")
    groups = table[table["split"] == "test"].set_index(["task", "image_id"])["group"]
    return {task: (p, groups.loc[task].reindex(p.image_ids).to_numpy(dtype=str))
            for (task, _), p in read_predictions(predictions_tsv, ["test"]).items()}


def paired_rows(name: str, task: str, external: TaskPredictions, groups: np.ndarray, study: Sequence[TaskPredictions],
                study_name: str, n_resamples: int, seed: int, level: float) -> list[dict]:
    """One row per metric: the external model and the study's seeds (mean over seeds in each resample) on the test
    images both predict, every difference on the same rows of one group-resample matrix. Without a comparable study
    model the external model alone, on all its test images."""
    n_external = len(external.image_ids)
    keep = np.arange(n_external)
    labels, probabilities = external.labels, external.probabilities
    if study and set(study[0].classes) != set(external.classes):
        log.warning("external %s (%s): classes %s differ from the study's %s; no paired comparison", name, task,
                    external.classes, study[0].classes)
        study = []
    if study:
        for other in study[1:]:
            check_same_images(study[0], other, f"{study_name} (task {task})")
        matched = match_ids(external.image_ids, study[0].image_ids)
        keep = np.flatnonzero(np.isin(matched, study[0].image_ids))
        if len(keep) == 0:
            log.warning("external %s (%s): no test image in common with the study's; no paired comparison", name, task)
            study, keep = [], np.arange(n_external)
    if study:
        position = pd.Series(np.arange(len(study[0].image_ids)), index=study[0].image_ids)
        at = position.loc[match_ids(external.image_ids, study[0].image_ids)[keep]].to_numpy()
        order = [external.classes.index(c) for c in study[0].classes]  # the study's class order
        labels = np.array([order.index(k) for k in external.labels[keep]])
        probabilities = external.probabilities[keep][:, order]
        disagree = int((labels != study[0].labels[at]).sum())
        if disagree:
            log.warning("external %s (%s): %d of %d common test images have another true label than the study's; each "
                        "model is scored on its own labels", name, task, disagree, len(keep))
        log.info("external %s (%s): %d of its %d test images are among the study's %d", name, task, len(keep),
                 n_external, len(position))
    groups = groups[keep]
    weights = group_weights(groups, n_resamples, seed)
    point = resampled_metrics(full_sample(len(keep)), labels, probabilities)[0]
    resampled = resampled_metrics(weights, labels, probabilities)
    if study:
        study_point = np.mean([resampled_metrics(full_sample(len(keep)), s.labels[at], s.probabilities[at])[0]
                               for s in study], axis=0)
        study_resampled = np.mean([resampled_metrics(weights, s.labels[at], s.probabilities[at]) for s in study],
                                  axis=0)
    else:
        study_point = np.full(len(METRICS), np.nan)
        study_resampled = np.full_like(resampled, np.nan)
    difference = resampled - study_resampled  # paired: the same resample rows for both
    low, high = percentile_interval(resampled, level)
    study_low, study_high = percentile_interval(study_resampled, level)
    diff_low, diff_high = percentile_interval(difference, level)
    p_values = bootstrap_p_value(difference)
    return [{"name": name, "task": task, "metric": metric, "external_value": point[i], "external_low": low[i],
             "external_high": high[i], "study_value": study_point[i], "study_low": study_low[i],
             "study_high": study_high[i], "difference_value": point[i] - study_point[i], "difference_low": diff_low[i],
             "difference_high": diff_high[i], "p_value": p_values[i], "n_images": len(keep),
             "n_groups": len(set(groups)), "n_external_test": n_external, "study": study_name if study else "",
             "n_seeds": len(study)} for i, metric in enumerate(METRICS)]


def tabulate_external(scored: Mapping[str, str | Path], runs_tsv: str | Path, run_dirs: Iterable[str | Path],
                      out_stem: str | Path, report: Mapping, exclude_experiments: Collection[str] = ()
                      ) -> pd.DataFrame:
    """Write results/tables/external.{csv,md,tex,html}. ``scored``: name -> its scored predictions.tsv;
    ``exclude_experiments``: experiments holding out lesion classes, no candidates on the lesion task (as in the
    best-models table)."""
    bootstrap, metric = report["bootstrap"], report["selection_metric"]
    tidy = read_runs(runs_tsv)
    tidy = tidy[~open_set_rows(tidy, exclude_experiments)]
    best = select_best(tidy, metric, ["task"])
    best_config = {row["task"]: tuple(row[k] for k in CONFIG_KEYS) for _, row in best.iterrows()}
    run_dirs = list(run_dirs)
    rows = []
    for name, path in scored.items():
        for task, (external, groups) in read_scored(path).items():
            config = best_config.get(task)
            if config is None:
                log.warning("external %s: the study has no task %r; shown alone", name, task)
            dirs = [d for d in run_dirs if config is not None and config_of(d) == config]
            study = [read_predictions(Path(d) / "predictions.tsv", ["test"])[(task, "test")] for d in dirs]
            rows += paired_rows(name, task, external, groups, study, config_text(config) if config else "",
                                bootstrap["resamples"], bootstrap["seed"], bootstrap["level"])
    table = pd.DataFrame(rows, columns=EXTERNAL_COLUMNS)
    percent = f"{bootstrap['level']:.0%}"
    write_table(table, out_stem, "External predictions beside the study's best model on the same test images",
                f"external: the file's predictions; study: the configuration chosen on val by {metric} for the task "
                "(mean over seeds); both on the test images they share (n_images of the file's n_external_test). "
                f"difference = external - study with its {percent} paired percentile interval: "
                f"{bootstrap['resamples']} resamples of the groups (seed {bootstrap['seed']}), the same resamples for "
                "both; p_value the two-sided bootstrap p-value, unadjusted. An empty study column: no study model of "
                f"the task with the same classes and images. {INTERVAL_SCOPE}")
    log.info("external: %d file(s), %d rows -> %s", len(scored), len(table), out_stem)
    return table
