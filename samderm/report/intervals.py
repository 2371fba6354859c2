"""Bootstrap intervals of every configuration's test metrics, from the runs' predictions: per seed
the metric on the test images, and per resample the mean over seeds, all seeds and configurations of a
task sharing one resample matrix (so differences between configurations are paired). A task's runs form
one comparison set per class list: an experiment with held-out lesion classes predicts other images and
classes, so its lesion task gets resamples of its own and is never paired with the others."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Iterable, Sequence

import numpy as np
import pandas as pd

from samderm.io import read_tsv, write_tsv
from samderm.logs import progress
from samderm.metrics.bootstrap import METRICS, full_sample, group_weights, percentile_interval, resampled_metrics
from samderm.report.aggregate import CONFIG_KEYS, ResultsError, read_with_columns, run_from_dir
from samderm.report.predictions import TaskPredictions, check_same_images, image_groups, read_predictions

log = logging.getLogger(__name__)

TASK_KEYS = CONFIG_KEYS + ["task"]
INTERVAL_COLUMNS = TASK_KEYS + ["metric", "mean", "std", "low", "high", "n_seeds", "n_images", "n_groups",
                                  "n_resamples", "level"]


@dataclass
class Distribution:
    """One configuration on one task: the test metric of each seed, and the sum over seeds of the
    resampled metrics (``resampled`` divides by the number of seeds)."""
    per_seed: list[np.ndarray] = field(default_factory=list)
    resampled_sum: np.ndarray | None = None
    comparison: tuple = ()  # (task, classes): the resamples it shares; only equal ones are paired

    def add(self, point: np.ndarray, resampled: np.ndarray) -> None:
        self.per_seed.append(point)
        self.resampled_sum = resampled if self.resampled_sum is None else self.resampled_sum + resampled

    @property
    def resampled(self) -> np.ndarray:
        """(resamples, metrics): the mean over seeds of each resample's metrics."""
        return self.resampled_sum / len(self.per_seed)

    @property
    def mean(self) -> np.ndarray:
        return np.mean(self.per_seed, axis=0)

    @property
    def std(self) -> np.ndarray:
        """Sample standard deviation over seeds (NaN with one seed)."""
        return np.std(self.per_seed, axis=0, ddof=1) if len(self.per_seed) > 1 else np.full(len(self.per_seed[0]), np.nan)


@dataclass
class TaskResamples:
    """The test images of one task, their groups and the resample weights every run of the task shares."""
    reference: TaskPredictions
    groups: np.ndarray
    weights: np.ndarray


def config_of(run_dir: str | Path) -> tuple:
    run = run_from_dir(run_dir).as_dict()
    return tuple(run[k] for k in CONFIG_KEYS)


def bootstrap_configurations(run_dirs: Iterable[str | Path], manifest_tsv: str | Path, n_resamples: int, seed: int,
                             configs: Collection[tuple] | None = None, threads: int = 1
                             ) -> tuple[dict[tuple, Distribution], dict[tuple, TaskResamples]]:
    """(config, task) -> Distribution, and (task, classes) -> its resamples, over the runs of ``configs``
    (all when None). The resamples depend only on the task's groups and ``seed``; runs are scored on
    ``threads`` threads (numpy releases the GIL) and summed in run order, so the result is the same."""
    manifest = read_tsv(manifest_tsv)
    tasks: dict[tuple, TaskResamples] = {}
    first_use = threading.Lock()

    def resamples_of(comparison: tuple, predictions: TaskPredictions) -> TaskResamples:
        with first_use:
            if comparison not in tasks:
                groups = image_groups(manifest, predictions.image_ids, str(manifest_tsv))
                tasks[comparison] = TaskResamples(predictions, groups, group_weights(groups, n_resamples, seed))
        return tasks[comparison]

    def score(run_dir: str | Path) -> list[tuple[str, tuple, np.ndarray, np.ndarray]]:
        scored = []
        for (task, _), predictions in read_predictions(Path(run_dir) / "predictions.tsv", ["test"]).items():
            comparison = (task, tuple(predictions.classes))
            resamples = resamples_of(comparison, predictions)
            check_same_images(resamples.reference, predictions, f"{run_dir}/predictions.tsv (task {task})")
            point = resampled_metrics(full_sample(len(predictions.labels)), predictions.labels,
                                      predictions.probabilities)[0]
            scored.append((task, comparison, point, resampled_metrics(resamples.weights, predictions.labels,
                                                                      predictions.probabilities)))
        return scored

    chosen = [d for d in run_dirs if configs is None or config_of(d) in configs]
    distributions: dict[tuple, Distribution] = {}
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for run_dir, scored in zip(chosen, progress(pool.map(score, chosen), total=len(chosen), desc="bootstrap",
                                                    unit="run")):
            for task, comparison, point, resampled in scored:
                distribution = distributions.setdefault((config_of(run_dir), task), Distribution(comparison=comparison))
                if distribution.comparison != comparison:
                    raise ResultsError(f"{run_dir}/predictions.tsv: task {task} has the classes {list(comparison[1])}, "
                                       f"other seeds of its configuration {list(distribution.comparison[1])}")
                distribution.add(point, resampled)
    if not distributions:
        raise ResultsError("no test predictions to bootstrap")
    return distributions, tasks


def interval_table(distributions: dict[tuple, Distribution], tasks: dict[tuple, TaskResamples],
                   level: float) -> pd.DataFrame:
    """One row per (configuration, task, metric): mean and std over seeds, the percentile interval of
    the seed mean, and how many images, groups and resamples it rests on."""
    rows = []
    for (config, task), dist in distributions.items():
        low, high = percentile_interval(dist.resampled, level)
        resamples = tasks[dist.comparison]
        for i, metric in enumerate(METRICS):
            rows.append((*config, task, metric, dist.mean[i], dist.std[i], low[i], high[i], len(dist.per_seed),
                         len(resamples.groups), len(set(resamples.groups)), len(resamples.weights), level))
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


def bootstrap_intervals(run_dirs: Iterable[str | Path], manifest_tsv: str | Path, output: str | Path,
                        n_resamples: int, level: float, seed: int, threads: int = 1) -> pd.DataFrame:
    """Write ``results/tables/intervals.tsv``."""
    distributions, tasks = bootstrap_configurations(run_dirs, manifest_tsv, n_resamples, seed, threads=threads)
    table = interval_table(distributions, tasks, level)
    write_tsv(table, output)
    log.info("intervals: %d configurations x tasks, %d resamples of lesion groups (%s) -> %s", len(distributions),
             n_resamples, ", ".join(f"{t} ({len(c)} classes): {len(set(r.groups))} groups / {len(r.groups)} images"
                                    for (t, c), r in tasks.items()), output)
    return table


def read_intervals(path: str | Path, columns: Sequence[str] = INTERVAL_COLUMNS) -> pd.DataFrame:
    """intervals.tsv (or ood_intervals.tsv with its ``columns``) with numeric statistics."""
    table = read_with_columns(path, list(columns))
    for column in ("mean", "std", "low", "high", "level"):  # an empty cell (std of one seed) is NaN
        table[column] = table[column].replace("", "nan").astype(float)
    return table.astype({"resolution": int})


def interval_columns(intervals: pd.DataFrame, metrics: Iterable[str], keys: Sequence[str] = TASK_KEYS) -> pd.DataFrame:
    """Wide: per ``keys`` (configuration and task) ``{metric}_value`` (mean over seeds), ``{metric}_low``
    and ``{metric}_high``, ready to merge beside a summary table's mean ± std columns."""
    metrics, keys = list(metrics), list(keys)
    rows = intervals[intervals["metric"].isin(metrics)].rename(columns={"mean": "value"})
    wide = rows.pivot(index=keys, columns="metric", values=["value", "low", "high"])
    wide.columns = [f"{metric}_{stat}" for stat, metric in wide.columns]
    return wide[[f"{m}_{s}" for m in metrics for s in ("value", "low", "high")]].reset_index()


def beside_intervals(table: pd.DataFrame, intervals: pd.DataFrame, metrics: Iterable[str],
                     keys: Sequence[str] = TASK_KEYS, source: str = "runs.tsv") -> pd.DataFrame:
    """``table`` (one row per ``keys``) with each metric's interval columns right after its mean ± std
    (or its column); a metric the table lacks (AUROC) gets its mean and std over seeds from ``intervals``."""
    metrics, keys = list(metrics), list(keys)
    spread = intervals[intervals["metric"].isin(metrics)].pivot(index=keys, columns="metric", values=["mean", "std"])
    spread.columns = [f"{metric}_{stat}" for stat, metric in spread.columns]
    absent = [c for c in spread.columns if c not in table.columns and c.removesuffix("_mean").removesuffix("_std")
              not in table.columns]
    merged = table.merge(interval_columns(intervals, metrics, keys), on=keys, how="left", validate="one_to_one")
    merged = merged.merge(spread[absent].reset_index(), on=keys, how="left")
    if merged[f"{metrics[0]}_low"].isna().all():
        raise ResultsError("the intervals table has no row of the configurations in this table")
    for metric in metrics:
        shown = f"{metric}_mean" if f"{metric}_mean" in table.columns else metric
        if shown in table.columns:  # the summary and the bootstrap should give the same test metric
            gap = (merged[shown] - merged[f"{metric}_value"]).abs().max()
            if gap > 1e-9:
                log.warning("test %s from %s and from the bootstrap differ by up to %.3g", metric, source, gap)
    columns = [c for c in table.columns if c not in ("n_seeds",)]
    for metric in metrics:
        parts = [f"{metric}_{s}" for s in ("mean", "std") if f"{metric}_{s}" in absent]
        parts += [f"{metric}_{s}" for s in ("value", "low", "high")]
        after = next((c for c in (f"{metric}_std", metric) if c in columns), None)
        position = columns.index(after) + 1 if after else len(columns)
        columns[position:position] = parts
    return merged[columns + [c for c in ("n_seeds",) if c in table.columns]]
