"""Subgroup metrics of the models chosen on val: per encoder and task, the run ``external_sources`` selects (the
configuration chosen on val by ``report.selection_metric``, at its first seed), scored per subgroup (sex, age band,
site, Fitzpatrick type, ITA category: ``samderm.metrics.subgroups``) on the internal test split and on each external
source, with paired bootstrap intervals; and the OOD gate's rejections per subgroup, for the gate the gate report
shows (``samderm.report.gate_report``: the best lesion configuration with OOD results, its first seed, the detector
with the best mean val AUROC on the gating head).

The resamples of a split are those of the external-sources table (``external_sources.Resampler``): one
``group_weights`` matrix of the groups of all the split's images, seeded with ``bootstrap.seed`` for the internal
test split and a seed derived from it for an external source; every subgroup of the split uses it."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.data.splits import EXTERNAL_PREFIX, SHIFT
from samderm.io import read_tsv, write_tsv
from samderm.logs import progress
from samderm.matrix import Run
from samderm.metrics.subgroups import (ALL, GATE_RATES, GROUP_COLUMNS, UNKNOWN, classification_score,
                                       rejection_score, score_columns, settings, subgroup_values)
from samderm.ood.end_to_end import REJECTED_NOT_SKIN, REJECTED_OOD, gate_head
from samderm.ood.sets import EXTERNAL_SOURCE
from samderm.report.aggregate import RUN_KEYS, ResultsError, read_runs, run_from_dir
from samderm.report.external_sources import (INTERNAL, METRIC_LABELS, METRICS, TASKS, Resampler, RunPredictions,
                                             selected_runs)
from samderm.report.gate_report import ood_dirs_by_run, read_seed_tables, detector_ranking
from samderm.report.style import colour, new_figure, save_figure, styled
from samderm.report.summaries import TASK_ORDER, best_ood_runs
from samderm.report.tables import HEADERS, INTERVAL_PARTS, write_table

log = logging.getLogger(__name__)

FIGURE_METRIC = "balanced_accuracy"  # what the forest plots show
PARTS = INTERVAL_PARTS
METRIC_COLUMNS = [f"{m}_{p}" for m in METRICS for p in PARTS]
GAP_VALUE_COLUMNS = ["worst_group", "worst_value", "best_group", "best_value", "gap_value", "gap_low", "gap_high",
                     "n_eligible"]
# the tidy table: one row per (run, task, split, column, group, metric); the gap of the (run, task, split, column,
# metric) on each of its rows (empty on the rows of column ``all``)
TABLE_COLUMNS = [*RUN_KEYS, "task", "split", "column", "group", "n_images", "n_groups", "too_small", "metric",
                 *[f"{p}" for p in PARTS], "is_worst", *GAP_VALUE_COLUMNS, "n_resamples", "level"]
SUMMARY_COLUMNS = ["task", "encoder", "run", "split", "column", "group", "n_images", "n_groups", *METRIC_COLUMNS,
                   "worst"]
GATE_COLUMNS = [*RUN_KEYS, "head", "detector", "split", "column", "group", "n_images", "n_groups", "too_small",
                *[f"{r}_{p}" for r in GATE_RATES for p in PARTS], "n_resamples", "level"]
GAP_ROW = "gap (best - worst)"
NO_GATE = "no OOD run (no end_to_end_images.tsv): no gate table"


# --- classification metrics per subgroup ----------------------------------------------------------------------

def evaluated_splits(run: RunPredictions, task: str) -> list[str]:
    """The internal test split, then each external source's split, of ``task`` in the run's predictions."""
    splits = [s for t, s in run.splits if t == task]
    return ([INTERNAL] if INTERNAL in splits else []) + sorted(s for s in splits if s.startswith(EXTERNAL_PREFIX))


def _values_of(values: pd.DataFrame, image_ids: np.ndarray, where: str) -> pd.DataFrame:
    absent = pd.Index(image_ids).difference(values.index)
    if len(absent):
        raise ResultsError(f"{where}: no manifest row for image(s) {list(absent[:5])}")
    return values.reindex(image_ids)


def run_subgroup_rows(run: RunPredictions, tasks: Sequence[str], values: pd.DataFrame, resampler: Resampler,
                      columns: Sequence[str], age_edges: Sequence[float], min_size: int, n_bins: int,
                      level: float) -> pd.DataFrame:
    """``TABLE_COLUMNS`` rows of one run: per task and evaluated split, the split over all its images (column
    ``all``) and every subgroup of every column, each metric with its interval and the column's gap."""
    frames = []
    for task in tasks:
        for split in evaluated_splits(run, task):
            predictions = run.splits[(task, split)]
            groups, weights = resampler(split, predictions.image_ids)
            table = _values_of(values, predictions.image_ids, run.where)
            scores = score_columns(table, groups, weights, classification_score(predictions.labels,
                                                                                predictions.probabilities, n_bins),
                                   METRICS, columns, min_size, level, age_edges)
            frames.append(_tidy(scores.groups, scores.gaps, METRICS).assign(**run.run, task=task, split=split))
    if not frames:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    return pd.concat(frames, ignore_index=True).assign(n_resamples=resampler.n_resamples, level=level)


def _tidy(groups: pd.DataFrame, gaps: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (column, group, metric) with the column's gap of the metric."""
    long = []
    for metric in metrics:
        part = groups[GROUP_COLUMNS].assign(metric=metric, **{p: groups[f"{metric}_{p}"] for p in PARTS})
        long.append(part)
    tidy = pd.concat(long, ignore_index=True).merge(gaps, on=["column", "metric"], how="left")
    tidy["is_worst"] = tidy["group"] == tidy["worst_group"]
    tidy["n_eligible"] = tidy["n_eligible"].astype("Int64")
    return tidy


# --- selection, summary ---------------------------------------------------------------------------------------

def selected_table(table: pd.DataFrame, selected: pd.DataFrame) -> pd.DataFrame:
    """``table``'s rows of the selected (task, run) pairs, in task, encoder (selection order), split (internal
    first) order; each column's groups in the table's order."""
    keys = RUN_KEYS + ["task"]
    if table.empty or selected.empty:
        return table.iloc[0:0]
    rows = table.merge(selected[keys], on=keys, how="inner")
    rank = {t: i for i, t in enumerate(TASK_ORDER)}
    encoders = {e: i for i, e in enumerate(dict.fromkeys(selected["encoder"]))}
    rows = rows.assign(_t=rows["task"].map(rank).fillna(len(rank)), _e=rows["encoder"].map(encoders),
                       _s=(rows["split"] != INTERNAL).astype(int))
    return rows.sort_values(["_t", "_e", "_s", "split"], kind="stable").drop(columns=["_t", "_e", "_s"]).reset_index(
        drop=True)


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``SUMMARY_COLUMNS``: per (task, encoder, split, column) a row per group (each metric value [interval];
    ``worst``: the metrics this group is the worst of), then a row ``GAP_ROW`` (each metric's largest gap
    [interval]; ``worst``: each metric's worst group)."""
    if rows.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    out = []
    keys = [*RUN_KEYS, "task", "split", "column"]
    for key, block in rows.groupby(keys, sort=False):
        run = Run(**dict(zip(RUN_KEYS, key[:len(RUN_KEYS)])))
        task, split, column = key[len(RUN_KEYS):]
        head = {"task": task, "encoder": run.encoder, "run": run.path, "split": split, "column": column}
        for group, mine in block.groupby("group", sort=False):
            by_metric = mine.set_index("metric")
            first = mine.iloc[0]
            worst = [METRIC_LABELS[m] for m in METRICS if m in by_metric.index and bool(by_metric.loc[m, "is_worst"])]
            out.append({**head, "group": group, "n_images": str(int(first["n_images"])),
                        "n_groups": str(int(first["n_groups"])),
                        **{f"{m}_{p}": by_metric.loc[m, p] for m in METRICS for p in PARTS},
                        "worst": ", ".join(worst) + (" (too small)" if bool(first["too_small"]) else "")})
        if column != ALL:
            by_metric = block.drop_duplicates("metric").set_index("metric")
            out.append({**head, "group": GAP_ROW, "n_images": "", "n_groups": "",
                        **{f"{m}_{p}": by_metric.loc[m, f"gap_{p}"] for m in METRICS for p in PARTS},
                        "worst": "; ".join(f"{METRIC_LABELS[m]}: {by_metric.loc[m, 'worst_group'] or '-'}"
                                           for m in METRICS)})
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def summary_note(bootstrap: Mapping, n_bins: int, metric: str, min_size: int) -> str:
    return (f"Per encoder and task, the configuration chosen on the validation split by mean {metric} over seeds "
            "(held-out-class experiments are no candidates on the lesion task), read at its first seed (run); split: "
            "the internal test split or an external source (external:{source}). Group all: every image of the split; "
            f"{UNKNOWN}: images whose value is unknown. [interval]: {bootstrap['level']:.0%} percentile bootstrap "
            f"interval over {bootstrap['resamples']} resamples of the split's groups (seed {bootstrap['seed']}), "
            "PAIRED: "
            "all subgroups of a split share each resample, restricted to their images. A group of fewer than "
            f"{min_size} images has no interval and is never the worst or best, nor is {UNKNOWN}. {GAP_ROW}: per metric, the best group "
            "minus the worst (by point value; for ECE, lower is better: worst minus best), its interval from the same "
            "resamples; worst: the groups a metric finds worst. ECE: top-label, "
            f"{n_bins} equal-width bins, before temperature scaling. Seed-to-seed variation is not in the intervals.")


# --- gate -----------------------------------------------------------------------------------------------------

def gate_population(images: pd.DataFrame) -> pd.Series:
    """The split each end_to_end_images row is evaluated in: ``test`` for an in-distribution internal test lesion
    (source lesion, no OOD level), ``external:{name}`` for a shift image of an external source (category = its
    name); "" for the rest (OOD, not skin, held-out classes)."""
    level = images["ood_level"].fillna("").astype(str) if "ood_level" in images else pd.Series("", index=images.index)
    category = images["category"].fillna("").astype(str)
    split = pd.Series("", index=images.index, dtype=object)
    split[(images["source"] == "lesion") & (level == "")] = INTERNAL
    shift = (images["source"] == EXTERNAL_SOURCE) & (level == SHIFT)
    split[shift] = EXTERNAL_PREFIX + category[shift]
    return split


def gate_subgroups(images: pd.DataFrame, manifest: pd.DataFrame, ita: pd.DataFrame | None, subgroups: Mapping,
                   bootstrap: Mapping) -> pd.DataFrame:
    """Per evaluated split (in-distribution internal test lesions; each external source's shift images) and
    subgroup: the shares rejected by the skin head (``not_skin``), by the OOD gate (``ood``) and by either
    (``rejected``), of the images of one (run, head, detector) of an ``end_to_end_images.tsv`` (columns image_id,
    source, category, ood_level, outcome; head, detector when present). Paired intervals as for the metrics: one
    resample matrix of the split's groups (``Resampler``) for all its subgroups."""
    columns, age_edges, min_size = settings(subgroups)
    for key in ("head", "detector"):
        if key in images and images[key].nunique() > 1:
            raise ResultsError(f"gate_subgroups: the images of one {key} please, got {sorted(images[key].unique())}")
    values = subgroup_values(manifest, ita, columns, age_edges)
    resampler = Resampler(manifest, bootstrap["resamples"], bootstrap["seed"])
    population = gate_population(images)
    splits = [s for s in [INTERNAL, *sorted(set(population) - {"", INTERNAL})] if (population == s).any()]
    frames = []
    for split in splits:
        rows = images[(population == split).to_numpy()].sort_values("image_id", kind="stable")
        image_ids = rows["image_id"].astype(str).to_numpy()
        if pd.Index(image_ids).duplicated().any():
            raise ResultsError(f"end_to_end_images: split {split} lists an image twice")
        groups, weights = resampler(split, image_ids)
        scores = score_columns(_values_of(values, image_ids, "end_to_end_images"), groups, weights,
                               rejection_score(rows["outcome"].to_numpy(), REJECTED_NOT_SKIN, REJECTED_OOD),
                               GATE_RATES, columns, min_size, bootstrap["level"], age_edges)
        frames.append(scores.groups.assign(split=split))
    if not frames:
        return pd.DataFrame(columns=[c for c in GATE_COLUMNS if c not in RUN_KEYS + ["head", "detector"]])
    table = pd.concat(frames, ignore_index=True).assign(n_resamples=resampler.n_resamples, level=bootstrap["level"])
    return table[["split", *GROUP_COLUMNS, *[f"{r}_{p}" for r in GATE_RATES for p in PARTS], "n_resamples", "level"]]


def gate_images(runs_tsv: str | Path, tuning_tsvs: Sequence[str | Path], image_tsvs: Sequence[str | Path],
                heads: Sequence[str], selection_metric: str) -> tuple[pd.DataFrame, Run, str, str]:
    """(end_to_end_images rows, run, head, detector) of the gate the gate report shows (``report_gate``'s choice):
    the best lesion configuration on val among those with OOD results, its first seed, the gating head, the
    detector with the best mean val AUROC over the configuration's seeds."""
    head = gate_head(list(heads))
    images_by_dir, tuning_by_dir = ood_dirs_by_run(image_tsvs), ood_dirs_by_run(tuning_tsvs)
    [(_, dirs)] = best_ood_runs(read_runs(runs_tsv), images_by_dir, selection_metric, ("task",))
    best = detector_ranking(read_seed_tables(tuning_by_dir, dirs, head)).index[0]
    first = min(dirs, key=lambda d: run_from_dir(d).seed)
    images = read_seed_tables(images_by_dir, [first], head)
    return images[images["detector"] == best].reset_index(drop=True), run_from_dir(first), head, best


def gate_note(run: Run | None, head: str, detector: str, bootstrap: Mapping, min_size: int) -> str:
    if run is None:
        return NO_GATE
    return (f"The gate of the gate report: run {run.path}, the {head} head's {detector} detector at its val-chosen "
            "threshold. split test: the in-distribution internal test lesions; external:{source}: the source's "
            "shift images. Per subgroup, the share of its images rejected by the skin head (not_skin), by the OOD "
            f"gate (ood; a share of all the subgroup's images) and by either (rejected), with {bootstrap['level']:.0%} "
            f"percentile intervals over {bootstrap['resamples']} paired resamples of the split's groups (seed "
            f"{bootstrap['seed']}); a group of fewer than {min_size} images has none.")


# --- figure ---------------------------------------------------------------------------------------------------

@styled
def forest_figure(rows: pd.DataFrame, task: str, png: str | Path, svg: str | Path | None = None,
                  metric: str = FIGURE_METRIC) -> None:
    """Forest plot of ``task``: a panel per (encoder, split) of the selected runs, a line per subgroup (grouped by
    column) with its value and interval whiskers (hollow, without whiskers: too small), the value over all the
    split's images as a vertical line."""
    shown = rows[(rows["task"] == task) & (rows["metric"] == metric)] if len(rows) else rows
    panels = list(dict.fromkeys(zip(shown["encoder"], shown["split"]))) if len(shown) else []
    if not panels:
        fig, axes = new_figure(1, 1, width=6.4, height=2.6)
        axes[0, 0].text(0.5, 0.5, f"no selected {task} run with test predictions", ha="center", va="center",
                        transform=axes[0, 0].transAxes)
        axes[0, 0].set_axis_off()
        save_figure(fig, png, svg)
        return
    encoders = list(dict.fromkeys(e for e, _ in panels))
    splits = list(dict.fromkeys(s for _, s in panels))
    n_lines = max(len(shown[(shown["encoder"] == e) & (shown["split"] == s)]) for e, s in panels)
    fig, axes = new_figure(len(encoders), len(splits), width=5.2, height=max(2.5, 0.24 * n_lines + 1.2))
    for i, encoder in enumerate(encoders):
        for j, split in enumerate(splits):
            ax = axes[i, j]
            mine = shown[(shown["encoder"] == encoder) & (shown["split"] == split)]
            if mine.empty:
                ax.set_axis_off()
                continue
            overall = mine[mine["column"] == ALL]
            lines = mine[mine["column"] != ALL].reset_index(drop=True)
            y = np.arange(len(lines))[::-1]
            columns = list(dict.fromkeys(lines["column"]))
            for k, column in enumerate(columns):
                part = lines["column"] == column
                sized = part & ~lines["too_small"].astype(bool)
                value = lines["value"].astype(float)
                error = np.nan_to_num(np.stack([value - lines["low"].astype(float),
                                                lines["high"].astype(float) - value]), nan=0.0).clip(min=0)
                ax.errorbar(value[sized], y[sized.to_numpy()], xerr=error[:, sized.to_numpy()], fmt="o",
                            color=colour(k), capsize=2, markersize=4)
                small = part & lines["too_small"].astype(bool)
                ax.plot(value[small], y[small.to_numpy()], "o", markerfacecolor="white", color=colour(k), markersize=4)
            title = f"{encoder}, {split}"
            if len(overall):
                ax.axvline(float(overall["value"].iloc[0]), color="black", linestyle="--", linewidth=1)
                title += f"\nall images (dashed): {float(overall['value'].iloc[0]):.3f}"
            ax.set_yticks(y, [f"{c}: {g} (n={n})" for c, g, n in zip(lines["column"], lines["group"],
                                                                       lines["n_images"])], fontsize=7)
            ax.set_xlim(0, 1)
            ax.set_xlabel(HEADERS.get(metric, metric))
            ax.set_title(title, fontsize=9)
    fig.suptitle(f"{task} task per subgroup: the model chosen on val per encoder (whiskers: paired bootstrap "
                 "interval; hollow: too few images)", fontsize=10)
    save_figure(fig, png, svg)


# --- the rule -------------------------------------------------------------------------------------------------

def tabulate_subgroups(prediction_paths: Sequence[str | Path], manifest_tsv: str | Path, ita_tsv: str | Path | None,
                       table_tsv: str | Path, summary_stem: str | Path, gate_stem: str | Path,
                       figure_pngs: Mapping[str, str | Path], bootstrap: Mapping, n_bins: int,
                       selection_metric: str, subgroups: Mapping, held_out_experiments: Collection[str] = (), *,
                       runs_tsv: str | Path, figure_svgs: Mapping[str, str | Path] | None = None,
                       tuning_tsvs: Sequence[str | Path] = (), image_tsvs: Sequence[str | Path] = (),
                       heads: Sequence[str] = ("lesion",), tasks: Sequence[str] = TASKS,
                       threads: int = 1) -> pd.DataFrame:
    """Write the tidy table of the selected runs (``table_tsv``, ``TABLE_COLUMNS``), the summary (``summary_stem``
    .csv/.md/.tex/.html), the gate table (``gate_stem``.*; from the gate report's gate when ``image_tsvs`` are
    given) and a forest plot per task of ``figure_pngs`` (task -> png; ``figure_svgs`` alike). The runs are those
    ``external_sources.selected_runs`` chooses from the val rows of ``runs_tsv`` (results/tables/runs.tsv, as the
    operating-points table does): only the chosen runs' predictions are read."""
    columns, age_edges, min_size = settings(subgroups)
    manifest = read_tsv(manifest_tsv)
    ita = read_tsv(ita_tsv) if ita_tsv else None
    values = subgroup_values(manifest, ita, columns, age_edges)
    resampler = Resampler(manifest, bootstrap["resamples"], bootstrap["seed"], str(manifest_tsv))
    paths = {Path(p): run_from_dir(Path(p).parent).as_dict() for p in prediction_paths}
    tidy = read_runs(runs_tsv)
    selected = selected_runs(tidy[tidy["task"].isin(tasks)], selection_metric, held_out_experiments)
    wanted = {}
    for row in selected.to_dict("records"):
        key = tuple(row[k] for k in RUN_KEYS)
        wanted.setdefault(key, []).append(row["task"])
    by_key = {tuple(v[k] for k in RUN_KEYS): p for p, v in paths.items()}

    def score(key: tuple) -> pd.DataFrame:
        run = RunPredictions.of(paths[by_key[key]], read_tsv(by_key[key]))
        return run_subgroup_rows(run, wanted[key], values, resampler, columns, age_edges, min_size, n_bins,
                                 bootstrap["level"])

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        frames = list(progress(pool.map(score, wanted), total=len(wanted), desc="subgroups", unit="run"))
    frames = [f for f in frames if len(f)]
    table = pd.concat(frames, ignore_index=True)[TABLE_COLUMNS] if frames else pd.DataFrame(columns=TABLE_COLUMNS)
    table = selected_table(table, selected) if len(table) else table
    write_tsv(table, table_tsv)
    summary = summary_table(table[table["task"].isin(["lesion", "malignancy"])] if len(table) else table)
    write_table(summary, summary_stem, "Metrics per subgroup, per encoder",
                summary_note(bootstrap, n_bins, selection_metric, min_size))

    gate, run, head, detector = pd.DataFrame(columns=GATE_COLUMNS), None, "", ""
    if image_tsvs:
        images, run, head, detector = gate_images(runs_tsv, tuning_tsvs, image_tsvs, heads, selection_metric)
        rows = gate_subgroups(images, manifest, ita, subgroups, bootstrap)
        gate = rows.assign(**run.as_dict(), head=head, detector=detector)[GATE_COLUMNS]
    else:
        log.warning("subgroups: %s", NO_GATE)
    write_table(gate, gate_stem, "The OOD gate's rejections per subgroup", gate_note(run, head, detector, bootstrap,
                                                                                      min_size))
    for task, png in figure_pngs.items():
        forest_figure(table, task, png, (figure_svgs or {}).get(task))
    log.info("subgroups: %d of %d runs read (chosen on val in runs.tsv: %d (task, run) pairs), %d rows -> %s; "
             "gate %s", len(wanted), len(paths), len(selected), len(table), table_tsv, f"{run.path} {head}/{detector}" if run else "none")
    return table
