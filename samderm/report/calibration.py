"""Calibration of every run and task from its predictions.tsv: a temperature fitted on the
validation split (T = 1 and the reason where val cannot identify it), and ECE, NLL and Brier score of
val and test before and after scaling."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import pandas as pd

from samderm.io import write_tsv
from samderm.logs import progress
from samderm.metrics.calibration import calibration_metrics, fit_temperature, scaled_probabilities
from samderm.report.aggregate import CONFIG_KEYS, RUN_KEYS, ResultsError, read_with_columns, run_from_dir
from samderm.report.predictions import read_predictions
from samderm.report.tables import write_table

log = logging.getLogger(__name__)

CALIBRATION_COLUMNS = RUN_KEYS + ["task", "temperature", "temperature_status", "split", "metric", "before", "after"]
# the summary table: test split, these metrics before and after scaling
SUMMARY_METRICS = ["ece_width", "ece_mass", "nll", "brier"]


def calibrate_run(run_dir: str | Path, n_bins: int) -> pd.DataFrame:
    """Rows of one run: per task the val-fitted temperature, why it is what it is (``temperature_status``),
    and each metric of val and test before and after scaling."""
    run = run_from_dir(run_dir).as_dict()
    path = Path(run_dir) / "predictions.tsv"
    predictions = read_predictions(path, ["val", "test"])
    rows = []
    for task in dict.fromkeys(task for task, _ in predictions):
        if (task, "val") not in predictions:
            raise ResultsError(f"{path}: task {task!r} has no val predictions to fit a temperature on")
        val = predictions[(task, "val")]
        fit = fit_temperature(val.probabilities, val.labels)
        if not fit.fitted:
            log.warning("%s, task %s: temperature not identifiable on val (%s%s); T = 1 kept", run_dir, task,
                        fit.status, "" if fit.bound is None else f", NLL lowest at the search bound T = {fit.bound:.4g}")
        for split in ("val", "test"):
            if (task, split) not in predictions:
                continue
            part = predictions[(task, split)]
            before = calibration_metrics(part.probabilities, part.labels, n_bins)
            after = calibration_metrics(scaled_probabilities(part.probabilities, fit.temperature), part.labels, n_bins)
            rows += [(*run.values(), task, fit.temperature, fit.status, split, m, before[m], after[m]) for m in before]
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


def calibration_summary(calibration: pd.DataFrame) -> pd.DataFrame:
    """Per (configuration, task) on the test split: the temperature and each metric before and after
    scaling, mean and sample std over seeds, and how many seeds have each temperature status."""
    test = calibration[(calibration["split"] == "test") & calibration["metric"].isin(SUMMARY_METRICS)]
    long = test.melt(id_vars=RUN_KEYS + ["task", "metric"], value_vars=["before", "after"], var_name="stage")
    long["name"] = long["metric"] + "_" + long["stage"]
    temperatures = test.drop_duplicates(RUN_KEYS + ["task"]).assign(name="temperature", value=test["temperature"])
    long = pd.concat([temperatures[RUN_KEYS + ["task", "name", "value"]], long[RUN_KEYS + ["task", "name", "value"]]])
    keys = CONFIG_KEYS + ["task"]
    stats = long.groupby(keys + ["name"], sort=False)["value"].agg(["mean", "std"])
    wide = stats.unstack("name")
    wide.columns = [f"{name}_{stat}" for stat, name in wide.columns]
    names = ["temperature"] + [f"{m}_{stage}" for m in SUMMARY_METRICS for stage in ("before", "after")]
    seeds = long.groupby(keys, sort=False)["seed"].nunique().rename("n_seeds")
    statuses = temperatures.groupby(keys, sort=False)["temperature_status"].agg(status_counts)
    return wide[[f"{n}_{s}" for n in names for s in ("mean", "std")]].join(statuses).join(seeds).reset_index()


def status_counts(statuses: pd.Series) -> str:
    """How many seeds have each temperature status, e.g. ``2 fitted, 1 val_error_free``."""
    return ", ".join(f"{n} {status}" for status, n in statuses.value_counts(sort=True).items())


def calibrate_runs(run_dirs: Iterable[str | Path], output: str | Path, table_stem: str | Path, n_bins: int) -> pd.DataFrame:
    """Write ``results/tables/calibration_runs.tsv`` and the calibration table (csv/md/tex/html)."""
    frames = [calibrate_run(d, n_bins) for d in progress(list(run_dirs), desc="calibration", unit="run")]
    if not frames:
        raise ResultsError("no run directories given: the matrix is empty")
    calibration = pd.concat(frames, ignore_index=True)
    write_tsv(calibration, output)
    summary = calibration_summary(calibration)
    write_table(summary, table_stem, "Calibration before and after temperature scaling (test split)",
                f"Temperature T fitted per run and task on the validation split (minimum NLL of softmax(log p / T)), "
                "T = 1 where val cannot identify it (temperature_status: val_error_free, every val prediction right, "
                "or at_search_bound, the NLL optimum at the edge of the search); "
                f"ECE of the top-label confidence with {n_bins} equal-width and {n_bins} equal-mass bins, negative "
                "log-likelihood and Brier score (sum over classes, 0 to 2); mean ± sample standard deviation over "
                "seeds. Scaling never changes the predicted class, so accuracy is unchanged.")
    changed = calibration[(calibration["metric"] == "accuracy") & (calibration["before"] != calibration["after"])]
    if len(changed):
        raise ResultsError(f"temperature scaling changed the accuracy of {len(changed)} run(s): a bug")
    fitted = calibration.drop_duplicates(RUN_KEYS + ["task"])["temperature_status"].value_counts()
    log.info("calibration: %d runs, median T %.3f, temperatures %s -> %s", len(frames), calibration["temperature"].median(),
             fitted.to_dict(), output)
    return calibration


def read_calibration(path: str | Path) -> pd.DataFrame:
    return read_with_columns(path, CALIBRATION_COLUMNS).astype({"resolution": int, "seed": int, "temperature": float, "before": float, "after": float})
