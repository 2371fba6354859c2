"""Internal test vs external test sources: how much of a run's test performance survives on images of another
site that it was never trained or tuned on (splits ``external:{name}`` of predictions.tsv).

For every run, task and external source present in its predictions, each metric (``METRICS``) is computed on the
internal test images and on the source's images, each with its percentile bootstrap interval over its own
resampling groups (manifest ``group_id``: lesion groups for the internal images, the patient or lesion as
``data.sources.<name>.groups`` says for an external source), and the drop = internal - external with an interval
from resampling the two group sets independently (resample r of the drop = internal resample r - external resample
r). The metrics are those of the report's other tables, computed by the same code:

* ``balanced_accuracy``, ``macro_f1``, ``auroc``: ``samderm.metrics.bootstrap`` (as in intervals.tsv); the
  prediction is the argmax of the probabilities. Classes absent from a set of images (an external source without
  DF, say) are treated as that code treats them, on both sides alike: balanced accuracy is the mean recall of the
  classes present in the truth, macro-F1 the mean F1 of the classes present in the truth or the predictions
  (scikit-learn's defaults), multi-class AUROC the macro mean of the one-vs-rest AUROCs of the classes with
  positives and negatives (a binary AUROC with one class only is undefined: NaN). So an external value can average
  over fewer classes than the internal one; the class list itself (the task's ``p_`` columns) must be the same.
* ``ece``: the top-label expected calibration error of ``samderm.metrics.calibration`` with
  ``report.calibration_bins`` equal-width bins (``expected_calibration_error``'s default binning), of the
  probabilities as the run wrote them (before temperature scaling). A resample weight w counts an image w times,
  as for the other metrics. The drop is internal - external for every metric: for ECE, where lower is better, a
  negative drop is a worse calibration on the external source.

The internal resamples are ``group_weights(groups, resamples, seed)``, the matrix intervals.tsv uses, so the
internal interval of a run is intervals.tsv's interval of a one-seed configuration. An external source's resamples
use a seed derived from ``seed`` and the source's split name (``resample_seed``): the same seed would draw the same
group indices on both sides whenever they have as many groups, and the drop's interval assumes the two are drawn
independently.

Operating points (``external_operating_points``): for the malignancy task, the thresholds
``samderm.metrics.operating_points.operating_points`` picks on the internal val split (sensitivity at specificity
0.80/0.90/0.95, specificity at sensitivity 0.95) are applied unchanged to the internal test images and to each
external source; sensitivity and specificity carry intervals on both sides and for the drop. Nothing external, and
nothing of the test split, moves a threshold.

Per encoder and task, the summary shows the configuration chosen on val by ``report.selection_metric`` (the
"best per encoder" models of the operating-points table: ``chosen_configurations``), read at its first (lowest)
seed, like the operating-points table: a threshold and a set of predictions belong to one trained model."""

from __future__ import annotations

import io
import logging
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.data.splits import EXTERNAL_PREFIX
from samderm.io import read_tsv, write_tsv
from samderm.logs import progress
from samderm.matrix import Run
from samderm.metrics.bootstrap import METRICS as BOOTSTRAP_METRICS
from samderm.metrics.bootstrap import SIDE_METRICS, side_metrics
from samderm.metrics.bootstrap import full_sample, group_weights, percentile_interval, resampled_metrics
from samderm.metrics.operating_points import class_score, operating_points, weighted_rates
from samderm.report.aggregate import CONFIG_KEYS, RUN_KEYS, TIDY_COLUMNS, ResultsError, run_from_dir
from samderm.report.operating_points import TARGETS, chosen_configurations
from samderm.report.predictions import TaskPredictions, image_groups, read_predictions
from samderm.report.style import colour, hatch, new_figure, save_figure, styled
from samderm.report.summaries import TASK_ORDER
from samderm.report.tables import HEADERS, INTERVAL_PARTS, write_table

log = logging.getLogger(__name__)

INTERNAL = "test"  # the internal split every external source is set against
METRICS = SIDE_METRICS
TASKS = ("lesion", "malignancy")  # the default tasks; add "skin" to score it too
OPERATING_TARGETS = {"malignancy": TARGETS["malignancy"]}  # task -> its positive class
FIGURE_METRICS = ("balanced_accuracy", "macro_f1")  # of the lesion task
SELECTION_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")  # val scores select_best may rank by
SIDES = ("internal", "external", "drop")
COUNT_COLUMNS = ["internal_images", "internal_groups", "external_images", "external_groups"]
TABLE_COLUMNS = [*RUN_KEYS, "task", "source", "metric", *[f"{s}_{p}" for s in SIDES for p in INTERVAL_PARTS],
                 *COUNT_COLUMNS, "n_resamples", "level"]
RATES = ("sensitivity", "specificity")
OPERATING_POINT_COLUMNS = [*RUN_KEYS, "task", "target", "operating_point", "threshold", "val_sensitivity",
                           "val_specificity", "source",
                           *[f"{s}_{r}_{p}" for r in RATES for s in SIDES for p in INTERVAL_PARTS],
                           *COUNT_COLUMNS, "n_resamples", "level"]
SUMMARY_COLUMNS = ["task", "encoder", "run", "source", "metric",
                   *[f"{s}_{p}" for s in SIDES for p in INTERVAL_PARTS], "groups"]
METRIC_LABELS = {**{m: HEADERS.get(m, m) for m in METRICS}, "ece": "ECE"}
NO_SOURCE_NOTE = "no external test source in the predictions (no split external:{name})"


# --- reading --------------------------------------------------------------------------------------------------

class _Named(io.StringIO):
    """An in-memory predictions.tsv that names its run in read_predictions' error messages."""

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self.name = name

    def __str__(self) -> str:
        return self.name


def split_predictions(frame: pd.DataFrame, where: str) -> dict[tuple[str, str], TaskPredictions]:
    """(task, split) -> predictions of every split in a predictions.tsv table (``samderm.train.outputs``'s
    columns), read by ``read_predictions`` exactly as a file would be (``where`` names it in errors)."""
    if "split" not in frame.columns:
        raise ResultsError(f"{where}: missing columns ['split']")
    splits = list(dict.fromkeys(frame["split"].astype(str)))
    return read_predictions(_Named(frame.to_csv(sep="\t", index=False), where), splits)


def external_splits(predictions: Mapping[tuple[str, str], TaskPredictions], task: str) -> list[str]:
    """The ``external:{name}`` splits of ``task``, sorted."""
    return sorted(split for t, split in predictions if t == task and split.startswith(EXTERNAL_PREFIX))


def source_name(split: str) -> str:
    return split.removeprefix(EXTERNAL_PREFIX)


def manifest_frame(manifest: pd.DataFrame | Mapping[str, str]) -> pd.DataFrame:
    """The manifest (``image_id`` and ``group_id`` or ``lesion_id``), or a mapping image_id -> group_id as one."""
    if isinstance(manifest, pd.DataFrame):
        return manifest
    if isinstance(manifest, pd.Series):
        manifest = manifest.to_dict()
    return pd.DataFrame({"image_id": list(manifest), "group_id": [str(g) for g in manifest.values()]})


def _run_keys(run: Mapping) -> dict:
    missing = [k for k in RUN_KEYS if k not in run]
    if missing:
        raise ResultsError(f"run {dict(run)} lacks the key(s) {missing}")
    return Run(**{k: run[k] for k in RUN_KEYS}).as_dict() | {"resolution": int(run["resolution"]),
                                                              "seed": int(run["seed"])}


@dataclass(frozen=True)
class RunPredictions:
    """One run's keys and its predictions per (task, split)."""
    run: dict
    splits: dict[tuple[str, str], TaskPredictions]

    @property
    def where(self) -> str:
        return f"predictions.tsv of {Run(**self.run).path}"

    @classmethod
    def of(cls, run: Mapping, frame: pd.DataFrame) -> RunPredictions:
        keys = _run_keys(run)
        return cls(keys, split_predictions(frame, f"predictions.tsv of {Run(**keys).path}"))


def _parsed(runs: Iterable[tuple[Mapping, pd.DataFrame] | RunPredictions]) -> Iterable[RunPredictions]:
    for item in runs:
        yield item if isinstance(item, RunPredictions) else RunPredictions.of(*item)


# --- resampling and metrics -----------------------------------------------------------------------------------

def resample_seed(seed: int, split: str) -> int:
    """The seed of a split's resamples: ``seed`` itself for the internal test split (intervals.tsv's matrix), a
    seed derived from ``seed`` and the split name for an external source (independent of the internal draws)."""
    if split == INTERNAL:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), zlib.crc32(split.encode("utf-8"))]).generate_state(1)[0])


class Resampler:
    """Each split's groups (from the manifest) and resample weights, made once per (split, images) and shared
    by every run that predicts the same images (thread-safe)."""

    def __init__(self, manifest: pd.DataFrame | Mapping[str, str], n_resamples: int, seed: int,
                 manifest_name: str = "manifest.tsv"):
        self.manifest, self.manifest_name = manifest_frame(manifest), manifest_name
        self.n_resamples, self.seed = int(n_resamples), int(seed)
        self._cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def __call__(self, split: str, image_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(groups, weights) of the images ``image_ids`` of ``split``."""
        key = (split, tuple(image_ids))
        with self._lock:
            if key not in self._cache:
                groups = image_groups(self.manifest, image_ids, self.manifest_name)
                weights = group_weights(groups, self.n_resamples, resample_seed(self.seed, split))
                self._cache[key] = (groups, weights)
            return self._cache[key]


@dataclass(frozen=True)
class Side:
    """One set of images of one run and task: its metrics on all images and on each resample."""
    split: str
    groups: np.ndarray
    value: np.ndarray  # (len(METRICS),)
    resampled: np.ndarray  # (resamples, len(METRICS))

    @property
    def n_images(self) -> int:
        return len(self.groups)

    @property
    def n_groups(self) -> int:
        return len(set(self.groups))


def score_side(predictions: TaskPredictions, split: str, resampler: Resampler, n_bins: int) -> Side:
    groups, weights = resampler(split, predictions.image_ids)
    value = side_metrics(full_sample(len(predictions.labels)), predictions.labels, predictions.probabilities, n_bins)
    resampled = side_metrics(weights, predictions.labels, predictions.probabilities, n_bins)
    return Side(split, groups, value[0], resampled)


def _interval(values: np.ndarray, resampled: np.ndarray, level: float) -> list[np.ndarray]:
    low, high = percentile_interval(resampled, level)
    return [values, low, high]


def _warn_shared_groups(internal: Side, external: Side, where: str, warned: set) -> None:
    shared = set(internal.groups) & set(external.groups)
    if shared and (external.split, where) not in warned:
        warned.add((external.split, where))
        log.warning("%s: %d group(s) of %s are also internal test groups (e.g. %s): the drop's interval treats the "
                    "two sides as independent", where, len(shared), external.split, sorted(shared)[0])


def run_source_rows(run: RunPredictions, resampler: Resampler, n_bins: int, level: float,
                    tasks: Sequence[str] = TASKS, warned: set | None = None) -> list[list]:
    """The rows (``TABLE_COLUMNS``) of one run: per task and external source, each metric internal, external
    and the drop, with intervals."""
    rows, warned = [], set() if warned is None else warned
    for task in tasks:
        sources = external_splits(run.splits, task)
        if not sources:
            continue
        if (task, INTERNAL) not in run.splits:
            raise ResultsError(f"{run.where}: task {task!r} has external predictions ({', '.join(sources)}) but no "
                               f"{INTERNAL} rows to compare them with")
        reference = run.splits[(task, INTERNAL)]
        internal = score_side(reference, INTERNAL, resampler, n_bins)
        for split in sources:
            predictions = run.splits[(task, split)]
            if predictions.classes != reference.classes:
                raise ResultsError(f"{run.where}: task {task!r} has the classes {predictions.classes} on {split} but "
                                   f"{reference.classes} on {INTERNAL}")
            external = score_side(predictions, split, resampler, n_bins)
            _warn_shared_groups(internal, external, run.where, warned)
            parts = [_interval(internal.value, internal.resampled, level),
                     _interval(external.value, external.resampled, level),
                     _interval(internal.value - external.value, internal.resampled - external.resampled, level)]
            counts = [internal.n_images, internal.n_groups, external.n_images, external.n_groups]
            for i, metric in enumerate(METRICS):
                rows.append([*run.run.values(), task, source_name(split), metric,
                             *[part[k][i] for part in parts for k in range(3)], *counts,
                             resampler.n_resamples, level])
    return rows


def _table(rows: list[list], columns: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({"resolution": int, "seed": int}) if len(table) else table


def compare_sources(runs: Iterable[tuple[Mapping, pd.DataFrame] | RunPredictions],
                    manifest: pd.DataFrame | Mapping[str, str], bootstrap: Mapping, n_bins: int,
                    tasks: Sequence[str] = TASKS) -> pd.DataFrame:
    """One row per (run, task, external source, metric) (``TABLE_COLUMNS``): internal test value and interval,
    external value and interval, drop = internal - external and its interval, images and groups of each side.

    ``runs``: (run keys (``RUN_KEYS``), predictions table) pairs; ``manifest``: image_id -> group_id (the manifest
    table or a mapping); ``bootstrap``: report.bootstrap (resamples, level, seed); ``n_bins``:
    report.calibration_bins. Runs without an external split add no row (an empty table has the columns)."""
    resampler = Resampler(manifest, bootstrap["resamples"], bootstrap["seed"])
    rows, warned = [], set()
    for run in _parsed(runs):
        rows += run_source_rows(run, resampler, n_bins, bootstrap["level"], tasks, warned)
    return _table(rows, TABLE_COLUMNS)


# --- operating points -----------------------------------------------------------------------------------------

def _rates(weights: np.ndarray, positive: np.ndarray, score: np.ndarray,
           threshold: float) -> list[tuple[float, np.ndarray]]:
    """(value on all images, value per resample) of sensitivity and specificity at ``threshold``."""
    values = weighted_rates(full_sample(len(score)), positive, score, threshold)
    resampled = weighted_rates(weights, positive, score, threshold)
    return [(float(v[0]), r) for v, r in zip(values, resampled)]


def _three_sides(inside: tuple[float, np.ndarray], outside: tuple[float, np.ndarray], level: float) -> list[float]:
    """value, low, high of the internal side, the external side and the drop (internal - external)."""
    drop = (inside[0] - outside[0], inside[1] - outside[1])
    return [float(c) for value, resampled in (inside, outside, drop)
            for c in (value, *percentile_interval(resampled, level))]


def run_operating_point_rows(run: RunPredictions, resampler: Resampler, level: float,
                             targets: Mapping[str, str] = OPERATING_TARGETS) -> list[list]:
    """The rows (``OPERATING_POINT_COLUMNS``) of one run: per target task with an external source, each
    operating point's val-chosen threshold applied to the internal test images and to each external source."""
    rows = []
    for task, target in targets.items():
        sources = external_splits(run.splits, task)
        if not sources:
            continue
        for split in ("val", INTERNAL):
            if (task, split) not in run.splits:
                raise ResultsError(f"{run.where}: task {task!r} has external predictions but no {split} rows")
        val, test = run.splits[(task, "val")], run.splits[(task, INTERNAL)]
        if target not in val.classes:
            log.info("%s: task %s has no class %s, no operating points", run.where, task, target)
            continue
        val_positive, val_score = class_score(val.labels, val.probabilities, val.classes, target)
        test_positive, test_score = class_score(test.labels, test.probabilities, test.classes, target)
        test_groups, test_weights = resampler(INTERNAL, test.image_ids)
        try:  # the existing rule: thresholds from val only, checked and applied to the internal test images
            chosen = operating_points(val_positive, val_score, test_positive, test_score, test_weights, test_groups,
                                      target=target, level=level)
        except ValueError as bad:
            raise ResultsError(f"{run.where}: task {task!r}, {target} vs rest: {bad}") from None
        for split in sources:
            external = run.splits[(task, split)]
            if external.classes != test.classes:
                raise ResultsError(f"{run.where}: task {task!r} has the classes {external.classes} on {split} but "
                                   f"{test.classes} on {INTERNAL}")
            positive, score = class_score(external.labels, external.probabilities, external.classes, target)
            groups, weights = resampler(split, external.image_ids)
            counts = [len(test_groups), len(set(test_groups)), len(groups), len(set(groups))]
            for point in chosen.itertuples():
                inside = _rates(test_weights, test_positive, test_score, point.threshold)
                outside = _rates(weights, positive, score, point.threshold)
                cells = [cell for r in range(len(RATES)) for cell in _three_sides(inside[r], outside[r], level)]
                rows.append([*run.run.values(), task, target, point.operating_point, point.threshold,
                             point.val_sensitivity, point.val_specificity, source_name(split), *cells, *counts,
                             resampler.n_resamples, level])
    return rows


def external_operating_points(runs: Iterable[tuple[Mapping, pd.DataFrame] | RunPredictions],
                              manifest: pd.DataFrame | Mapping[str, str], bootstrap: Mapping,
                              targets: Mapping[str, str] = OPERATING_TARGETS) -> pd.DataFrame:
    """One row per (run, target task, operating point, external source) (``OPERATING_POINT_COLUMNS``): the
    threshold ``operating_points`` chooses on the run's internal val split, its val rates, and sensitivity and
    specificity at that threshold on the internal test images, on the source and their drop (internal -
    external), each with its interval (NaN where a side has no positives, or no negatives)."""
    resampler = Resampler(manifest, bootstrap["resamples"], bootstrap["seed"])
    rows = []
    for run in _parsed(runs):
        rows += run_operating_point_rows(run, resampler, bootstrap["level"], targets)
    return _table(rows, OPERATING_POINT_COLUMNS)


# --- selection and summary ------------------------------------------------------------------------------------

def run_validation_rows(run: RunPredictions, tasks: Sequence[str] = TASKS) -> list[list]:
    """Runs-table rows (``TIDY_COLUMNS``) of the run's val metrics that ``select_best`` ranks by, computed from
    its val predictions (the same values as metrics.json: scikit-learn's definitions)."""
    rows = []
    for task in tasks:
        if (task, "val") not in run.splits:
            continue
        val = run.splits[(task, "val")]
        values = resampled_metrics(full_sample(len(val.labels)), val.labels, val.probabilities)[0]
        rows += [[*run.run.values(), task, "val", m, float(values[BOOTSTRAP_METRICS.index(m)])]
                 for m in SELECTION_METRICS]
    return rows


def validation_table(runs: Iterable[tuple[Mapping, pd.DataFrame] | RunPredictions],
                     tasks: Sequence[str] = TASKS) -> pd.DataFrame:
    """The val rows of a runs table (runs in the given order: the matrix order breaks ties)."""
    rows = [row for run in _parsed(runs) for row in run_validation_rows(run, tasks)]
    return _table(rows, TIDY_COLUMNS)


def selected_runs(validation: pd.DataFrame, metric: str, held_out_experiments: Collection[str] = ()) -> pd.DataFrame:
    """Per (task, encoder): the configuration chosen on val by ``metric`` (``chosen_configurations``' "best per
    encoder" scope: held-out-class experiments are no candidates on the lesion task) at its first seed."""
    if validation.empty:
        return pd.DataFrame(columns=["task", *RUN_KEYS, "n_seeds"])
    chosen = chosen_configurations(validation, metric, held_out_experiments)
    chosen = chosen[chosen["scope"] == "best per encoder"]
    seeds = (validation.groupby(CONFIG_KEYS + ["task"], sort=False)["seed"].agg(["min", "nunique"])
             .rename(columns={"min": "seed", "nunique": "n_seeds"}).reset_index())
    chosen = chosen.merge(seeds, on=CONFIG_KEYS + ["task"], how="left", validate="one_to_one")
    return chosen[["task", *RUN_KEYS, "n_seeds"]].reset_index(drop=True)


def selected_rows(table: pd.DataFrame, selected: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``table`` (compare_sources) of the selected runs, in task, encoder (matrix), source and metric
    order; a selected run without external predictions is named in the log."""
    keys = RUN_KEYS + ["task"]
    if table.empty or selected.empty:
        return table.iloc[0:0]
    rows = table.merge(selected[keys], on=keys, how="inner")
    lacking = selected.merge(table[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    for row in lacking[lacking["_merge"] == "left_only"].itertuples():
        log.warning("the run chosen on val for task %s, encoder %s (%s) has no external predictions", row.task,
                    row.encoder, Run(**{k: getattr(row, k) for k in RUN_KEYS}).path)
    rank = {t: i for i, t in enumerate(TASK_ORDER)}
    encoders = {e: i for i, e in enumerate(dict.fromkeys(selected["encoder"]))}
    metrics = {m: i for i, m in enumerate(METRICS)}
    order = {"task": rank, "encoder": encoders, "metric": metrics}
    return rows.sort_values(["task", "encoder", "source", "metric"], kind="stable",
                            key=lambda c: c.map(order[c.name]).fillna(len(order[c.name])) if c.name in order else c
                            ).reset_index(drop=True)


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``SUMMARY_COLUMNS``: one row per (task, encoder, source, metric) of the selected runs (``selected_rows``)."""
    if rows.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    table = rows.copy()
    table["run"] = [Run(**{k: r[k] for k in RUN_KEYS}).path for r in rows.to_dict("records")]
    table["metric"] = table["metric"].map(METRIC_LABELS)
    table["groups"] = [f"{a} / {b}" for a, b in zip(rows["internal_groups"], rows["external_groups"])]
    return table[SUMMARY_COLUMNS].reset_index(drop=True)


def summary_note(bootstrap: Mapping, n_bins: int, metric: str) -> str:
    return (f"Per encoder and task, the configuration chosen on the validation split by mean {metric} over seeds "
            "(held-out-class experiments are no candidates on the lesion task), read at its first seed (run). "
            f"internal: the internal test split; external: the source's images (split external:{{source}}), never "
            "trained or tuned on; drop = internal - external (for ECE, lower is better: a negative drop is a worse "
            f"calibration outside). [interval]: {bootstrap['level']:.0%} percentile bootstrap interval over "
            f"{bootstrap['resamples']} resamples of each side's own groups (internal: lesion groups; external: the "
            f"source's patient or lesion groups; seed {bootstrap['seed']}, an external source's resamples seeded "
            "apart); the drop's interval resamples the two sides independently. groups: internal / external groups. "
            "Classes absent from a side: balanced accuracy averages the classes in its truth, macro-F1 those in its "
            "truth or predictions, AUROC (macro one-vs-rest) those with positives and negatives. ECE: top-label, "
            f"{n_bins} equal-width bins, before temperature scaling. Seed-to-seed variation is not in the intervals.")


# --- figure ---------------------------------------------------------------------------------------------------

@styled
def external_figure(rows: pd.DataFrame, png: str | Path, svg: str | Path | None = None,
                    task: str = "lesion") -> None:
    """One panel per encoder: ``task``'s balanced accuracy and macro-F1 of the run chosen on val, on the internal
    test images and on each external source, with interval whiskers. Without an external source the figure says
    so in its one panel."""
    shown = rows[(rows["task"] == task) & rows["metric"].isin(FIGURE_METRICS)] if len(rows) else rows
    encoders = list(dict.fromkeys(shown["encoder"])) if len(shown) else []
    if not encoders:
        fig, axes = new_figure(1, 1, width=6.4, height=3.0)
        ax = axes[0, 0]
        ax.text(0.5, 0.5, f"{NO_SOURCE_NOTE}:\nnothing to compare for the {task} task", ha="center", va="center",
                transform=ax.transAxes, fontsize=11)
        ax.set_axis_off()
        fig.suptitle(f"Internal test vs external sources ({task} task)")
        save_figure(fig, png, svg)
        log.info("external figure: no external source for task %s", task)
        return
    n_sources = max(shown[shown["encoder"] == e]["source"].nunique() for e in encoders)
    fig, axes = new_figure(1, len(encoders), width=max(3.2, 1.4 * (n_sources + 1) + 1.0), height=4.4, sharey=True)
    width = 0.8 / len(FIGURE_METRICS)
    for ax, encoder in zip(axes[0], encoders):
        mine = shown[shown["encoder"] == encoder]
        sources = list(dict.fromkeys(mine["source"]))
        labels = ["internal test", *[f"external:\n{s}" for s in sources]]
        for i, metric in enumerate(FIGURE_METRICS):
            by_source = mine[mine["metric"] == metric].set_index("source")
            first = by_source.iloc[0]
            values = [first["internal_value"], *[by_source.loc[s, "external_value"] for s in sources]]
            lows = [first["internal_low"], *[by_source.loc[s, "external_low"] for s in sources]]
            highs = [first["internal_high"], *[by_source.loc[s, "external_high"] for s in sources]]
            values, lows, highs = (np.asarray(v, dtype=float) for v in (values, lows, highs))
            error = np.nan_to_num(np.stack([values - lows, highs - values]), nan=0.0).clip(min=0)
            x = np.arange(len(labels)) + (i - (len(FIGURE_METRICS) - 1) / 2) * width
            ax.bar(x, values, width, yerr=error, capsize=3, label=HEADERS.get(metric, metric), color=colour(i),
                   hatch=hatch(i), edgecolor="white")
        ax.set_xticks(np.arange(len(labels)), labels)
        ax.set_ylim(0, 1)
        run = Run(**{k: mine.iloc[0][k] for k in RUN_KEYS})
        ax.set_title(f"{encoder}\n{run.experiment}/{run.loss}/{run.architecture}/{run.crop}/"
                     f"{run.pooling}-r{run.resolution} seed {run.seed}", fontsize=9)
    axes[0, 0].set_ylabel(f"{task} task")
    axes[0, 0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.12), ncol=len(FIGURE_METRICS))
    fig.suptitle(f"Internal test vs external sources: the {task} model chosen on val per encoder "
                 "(whiskers: bootstrap interval over groups)", fontsize=10)
    save_figure(fig, png, svg)
    log.info("external figure: %d encoder(s), task %s", len(encoders), task)


# --- the rule -------------------------------------------------------------------------------------------------

def tabulate_external_sources(prediction_paths: Sequence[str | Path], manifest_tsv: str | Path,
                              table_tsv: str | Path, summary_stem: str | Path, figure_png: str | Path,
                              operating_points_tsv: str | Path, bootstrap: Mapping, n_bins: int,
                              selection_metric: str, held_out_experiments: Collection[str] = (),
                              figure_svg: str | Path | None = None, tasks: Sequence[str] = TASKS,
                              threads: int = 1) -> pd.DataFrame:
    """Write the tidy table of every run (``table_tsv``), the per-encoder summary (``summary_stem``.csv/.md/.tex/
    .html), the operating points (``operating_points_tsv``) and the figure; the run of each predictions.tsv is
    read from its directory (``run_from_dir``). Runs are read one at a time (``threads`` at once), in order."""
    resampler = Resampler(read_tsv(manifest_tsv), bootstrap["resamples"], bootstrap["seed"], str(manifest_tsv))
    level, warned = bootstrap["level"], set()

    def score(path: str | Path) -> tuple[list, list, list]:
        run = RunPredictions.of(run_from_dir(Path(path).parent).as_dict(), read_tsv(path))
        return (run_source_rows(run, resampler, n_bins, level, tasks, warned),
                run_operating_point_rows(run, resampler, level), run_validation_rows(run, tasks))

    source_rows, point_rows, val_rows = [], [], []
    paths = list(prediction_paths)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for sources, points, val in progress(pool.map(score, paths), total=len(paths), desc="external", unit="run"):
            source_rows += sources
            point_rows += points
            val_rows += val
    table = _table(source_rows, TABLE_COLUMNS)
    points = _table(point_rows, OPERATING_POINT_COLUMNS)
    validation = _table(val_rows, TIDY_COLUMNS)
    write_tsv(table, table_tsv)
    write_tsv(points, operating_points_tsv)
    rows = selected_rows(table, selected_runs(validation, selection_metric, held_out_experiments))
    note = summary_note(bootstrap, n_bins, selection_metric)
    if table.empty:
        note = f"{NO_SOURCE_NOTE[0].upper()}{NO_SOURCE_NOTE[1:]}: the table is empty. {note}"
        log.warning("external sources: %s among %d predictions files", NO_SOURCE_NOTE, len(paths))
    write_table(summary_table(rows), summary_stem, "Internal test vs external sources, per encoder", note)
    external_figure(rows, figure_png, figure_svg)
    log.info("external sources: %d runs, %d rows (%s), %d operating-point rows -> %s, %s", len(paths), len(table),
             ", ".join(sorted(table["source"].unique())) if len(table) else "none", len(points), table_tsv,
             summary_stem)
    return table
