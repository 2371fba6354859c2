"""The study's figures (PNG for the report, SVG for print), each from the tables it shows."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.data.labels import label_map
from samderm.io import read_json, read_tsv
from samderm.matrix import Run
from samderm.ood.metrics import LEVEL_ORDER, SEMANTIC_LEVELS
from samderm.report.aggregate import CONFIG_KEYS, RUN_KEYS, ResultsError, read_ood_runs, read_runs, run_from_dir
from samderm.report.intervals import read_intervals
from samderm.report.ood_intervals import OOD_INTERVAL_COLUMNS
from samderm.report.selection import over_seeds, select_best
from samderm.report.style import OKABE_ITO, colour, hatch, new_figure, save_figure, styled
from samderm.report.summaries import balance_counts, best_ood_runs, class_split_counts

log = logging.getLogger(__name__)
SPLIT_ORDER = ("train", "val", "test")


def _config_text(config: Mapping) -> str:
    return (f"{config['experiment']} / {config['loss']} / {config['architecture']} / {config['crop']} crop / "
            f"{config['encoder']}-{config['pooling']}-r{config['resolution']}")


def _bar_labels(ax, bars) -> None:
    ax.bar_label(bars, padding=2, fontsize=8)


@styled
def class_histogram(manifest: str | Path, splits: str | Path, png: str | Path, svg: str | Path,
                    labels: Mapping, unk: str) -> None:
    """Usable images per lesion class (and the not-skin and OOD sources), stacked by split."""
    classes = label_map(labels, unk).classes
    table = class_split_counts(read_tsv(manifest), read_tsv(splits), classes).set_index("class")
    fig, axes = new_figure(width=max(6.4, 0.6 * len(table)))
    ax = axes[0, 0]
    bottom = np.zeros(len(table))
    for i, split in enumerate(SPLIT_ORDER):
        bars = ax.bar(table.index, table[split], bottom=bottom, label=split, color=colour(i), hatch=hatch(i),
                      edgecolor="white")
        bottom += table[split].to_numpy()
    ax.bar_label(bars, labels=[str(n) for n in table["total"]], padding=2, fontsize=8)  # totals on the stacks
    ax.set_ylabel("images")
    ax.set_xlabel("class (lesion classes, then the not-skin and OOD sources)")
    ax.set_title("Images per class and split")
    ax.legend(title="split")
    save_figure(fig, png, svg)
    log.info("class histogram: %d bars, %d images", len(table), int(table["total"].sum()))


@styled
def balance_figure(balance: Sequence[str | Path], png: str | Path, svg: str | Path) -> None:
    """Lesion train images per class before balancing and after each strategy."""
    table = balance_counts(balance)
    classes = list(dict.fromkeys(table["class"]))
    strategies = list(dict.fromkeys(table["balancing"]))
    before = table.drop_duplicates("class").set_index("class")["before"].reindex(classes)
    series = [("before", before)] + [
        (f"after {s}", table[table["balancing"] == s].set_index("class")["after"].reindex(classes, fill_value=0))
        for s in strategies]
    fig, axes = new_figure(width=max(6.4, 0.7 * len(classes)))
    ax = axes[0, 0]
    width = 0.8 / len(series)
    x = np.arange(len(classes))
    for i, (name, counts) in enumerate(series):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, counts, width, label=name, color=colour(i),
                      hatch=hatch(i), edgecolor="white")
        _bar_labels(ax, bars)
    ax.set_xticks(x, classes)
    ax.set_ylabel("lesion train images")
    ax.set_title("Class counts before vs after balancing")
    ax.legend()
    save_figure(fig, png, svg)
    log.info("balance figure: %d classes, %d strategies", len(classes), len(strategies))


@styled
def lesion_f1_by_loss(runs_tsv: str | Path, experiment: str, png: str | Path, svg: str | Path) -> None:
    """Test macro-F1 of the lesion task by loss, bars grouped by architecture, error bars = std over
    seeds; one panel per (crop, feature set)."""
    tidy = read_runs(runs_tsv)
    tidy = tidy[(tidy["experiment"] == experiment) & (tidy["task"] == "lesion")]
    if tidy.empty:
        raise ResultsError(f"{runs_tsv}: no lesion runs of experiment {experiment!r}")
    stats = over_seeds(tidy, "test", ["macro_f1"])
    stats["features"] = stats["crop"] + " crop, " + stats["encoder"] + "-" + stats["pooling"] + "-r" + \
        stats["resolution"].astype(str)
    panels = list(dict.fromkeys(stats["features"]))
    losses = list(dict.fromkeys(stats["loss"]))
    archs = list(dict.fromkeys(stats["architecture"]))
    fig, axes = new_figure(1, len(panels), width=max(5.0, 1.1 * len(losses) * max(1, len(archs) / 2)), sharey=True)
    width = 0.8 / len(archs)
    x = np.arange(len(losses))
    for ax, panel in zip(axes[0], panels):
        part = stats[stats["features"] == panel]
        for i, arch in enumerate(archs):
            rows = part[part["architecture"] == arch].set_index("loss").reindex(losses)
            ax.bar(x + (i - (len(archs) - 1) / 2) * width, rows["macro_f1_mean"], width,
                   yerr=rows["macro_f1_std"].fillna(0), capsize=3, label=arch, color=colour(i), hatch=hatch(i),
                   edgecolor="white")
        ax.set_xticks(x, losses)
        ax.set_xlabel("loss")
        ax.set_title(panel)
        ax.set_ylim(0, 1)
    axes[0, 0].set_ylabel("lesion macro-F1 (test)")
    axes[0, -1].legend(title="architecture", loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: bars stay visible
    n_seeds = int(stats["n_seeds"].min())
    fig.suptitle(f"{experiment}: lesion macro-F1 by loss (error bars: std over {n_seeds} seed(s))")
    save_figure(fig, png, svg)
    log.info("lesion macro-F1 figure of %s: %d panels, %d losses, %d architectures", experiment, len(panels),
             len(losses), len(archs))


@styled
def confusion_figure(runs_tsv: str | Path, metrics_files: Sequence[str | Path], experiment: str, metric: str,
                     png: str | Path, svg: str | Path) -> None:
    """Row-normalised test confusion matrix of the experiment's best lesion model (chosen on val),
    summed over its seeds."""
    tidy = read_runs(runs_tsv)
    tidy = tidy[(tidy["experiment"] == experiment) & (tidy["task"] == "lesion")]
    if tidy.empty:
        raise ResultsError(f"{runs_tsv}: no lesion runs of experiment {experiment!r}")
    best = select_best(tidy, metric, ["task"]).iloc[0]
    config = {k: best[k] for k in CONFIG_KEYS}
    chosen = [f for f in metrics_files if {**run_from_dir(Path(f).parent).as_dict(), "seed": None}
              == {**config, "seed": None}]
    if not chosen:
        raise ResultsError(f"no metrics.json of the chosen configuration {_config_text(config)}")
    counts, classes = None, None
    for path in chosen:
        lesion = read_json(path)["tasks"]["lesion"]
        matrix = np.asarray(lesion["test"]["confusion_matrix"], dtype=float)
        if classes is not None and lesion["classes"] != classes:
            raise ResultsError(f"{path}: lesion classes {lesion['classes']} differ from the other seeds' {classes}")
        classes = lesion["classes"]
        counts = matrix if counts is None else counts + matrix
    support = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    fig, axes = new_figure(width=1.0 + 0.75 * len(classes), height=0.75 * len(classes) + 1.2)
    ax = axes[0, 0]
    image = ax.imshow(normalised, cmap="cividis", vmin=0, vmax=1)  # cividis: perceptually uniform, CVD-safe
    for (i, j), value in np.ndenumerate(normalised):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                color="black" if value > 0.5 else "white")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), [f"{c} (n={int(n)})" for c, n in zip(classes, support[:, 0])])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    ax.set_title(f"Best lesion model of {experiment} (val {metric} {best[f'val_{metric}']:.3f})\n"
                 f"{config['loss']} / {config['architecture']} / {config['crop']} crop; test, {len(chosen)} seed(s)",
                 fontsize=10)
    save_figure(fig, png, svg)
    log.info("confusion matrix of %s: %s, %d seeds, %d test images", experiment, _config_text(config), len(chosen),
             int(counts.sum()))


@styled
def ood_curves_figure(runs_tsv: str | Path, curves_files: Sequence[str | Path], experiment: str, metric: str,
                      png: str | Path, svg: str | Path, baseline: str = "msp") -> None:
    """ROC curves (OOD positive) of every detector on every head, one panel per OOD level (far and near
    when both are present, shift when present, then all), and the precision-recall curves of all OOD images, for the
    experiment's best lesion model among the OOD runs (chosen on val), its first seed."""
    tidy = read_runs(runs_tsv)
    by_dir = {str(Path(f).parent): f for f in curves_files if run_from_dir(Path(f).parent).experiment == experiment}
    if not by_dir:
        raise ResultsError(f"no OOD curves of experiment {experiment!r}")
    [(config, dirs)] = best_ood_runs(tidy[tidy["experiment"] == experiment], by_dir, metric)
    path = by_dir[dirs[0]]
    curves = read_tsv(path).astype({"x": float, "y": float})
    heads = list(dict.fromkeys(curves["head"]))
    detectors = list(dict.fromkeys(curves["detector"]))
    levels = [lv for lv in LEVEL_ORDER if (curves["ood_level"] == lv).any()]
    semantic = [lv for lv in levels if lv in SEMANTIC_LEVELS]
    if len(semantic) == 1 and LEVEL_ORDER[-1] in levels:  # one semantic level: its curves are those of all
        levels = [lv for lv in levels if lv != semantic[0]]
    panels = [("roc", level) for level in levels] + [("pr", LEVEL_ORDER[-1])]
    fig, axes = new_figure(len(heads), len(panels), width=4.8, height=4.2)
    for row, head in enumerate(heads):
        for col, (curve, level) in enumerate(panels):
            ax = axes[row, col]
            for i, detector in enumerate(detectors):
                points = curves[(curves["head"] == head) & (curves["detector"] == detector) & (curves["curve"] == curve)
                                & (curves["ood_level"] == level)]
                is_base = detector == baseline
                ax.plot(points["x"], points["y"], label=detector + (" (baseline)" if is_base else ""), color=colour(i),
                        # past the palette's 8 colours, a dash-dot line tells a reused colour apart
                        linestyle="--" if is_base else ("-" if i < len(OKABE_ITO) else "-."), linewidth=2.2 if is_base else 1.6,
                        drawstyle="steps-post" if curve == "roc" else "default")
            if curve == "roc":
                ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
                ax.set(xlabel="false positive rate", ylabel="true positive rate")
            else:
                ax.set(xlabel="recall (OOD)", ylabel="precision (OOD)")
            ax.set(xlim=(0, 1), ylim=(0, 1.02),
                   title=f"{head} head: {'ROC' if curve == 'roc' else 'precision-recall'}, {level} OOD")
            ax.legend(loc="lower right" if curve == "roc" else "lower left", fontsize=8)
    fig.suptitle(f"OOD detectors vs {baseline.upper()}: {_config_text(config)}, seed {run_from_dir(dirs[0]).seed} "
                 "(test split, OOD = positive)", fontsize=10)
    save_figure(fig, png, svg)
    log.info("OOD curves of %s: %s, %d heads x %d detectors", experiment, path, len(heads), len(detectors))


@styled
def ood_levels_figure(runs_tsv: str | Path, ood_runs_tsv: str | Path, ood_intervals_tsv: str | Path, metric: str,
                      png: str | Path, svg: str | Path) -> None:
    """Test AUROC of every detector on far, near, shift and all (far + near) OOD images, with its bootstrap interval: one
    row per experiment (its best lesion model among the OOD runs, chosen on val), one column per head."""
    ood = read_ood_runs(ood_runs_tsv)
    ood = ood[ood["metric"] == "auroc"]
    intervals = read_intervals(ood_intervals_tsv, OOD_INTERVAL_COLUMNS)
    intervals = intervals[intervals["metric"] == "auroc"]
    dirs = {Run(**{k: row[k] for k in RUN_KEYS}).path: "" for _, row in ood.drop_duplicates(RUN_KEYS).iterrows()}
    chosen = best_ood_runs(read_runs(runs_tsv), dirs, metric)
    heads = list(dict.fromkeys(ood["head"]))
    detectors = list(dict.fromkeys(ood["detector"]))
    fig, axes = new_figure(len(chosen), len(heads), width=max(5.0, 0.55 * len(detectors) * 2), height=3.4)
    for row, (config, _) in enumerate(chosen):
        mine = intervals.merge(pd.DataFrame([config]), on=CONFIG_KEYS)
        for col, head in enumerate(heads):
            ax = axes[row, col]
            shown = mine[mine["head"] == head].set_index(["ood_level", "detector"])
            levels = [lv for lv in LEVEL_ORDER if lv in shown.index.get_level_values("ood_level")]
            width = 0.8 / max(1, len(levels))
            for i, level in enumerate(levels):
                values = shown.loc[level].reindex(detectors)
                x = np.arange(len(detectors)) + (i - (len(levels) - 1) / 2) * width
                error = np.abs(values[["low", "high"]].to_numpy().T - values["mean"].to_numpy())
                ax.bar(x, values["mean"], width, yerr=error, capsize=2, label=level, color=colour(i), hatch=hatch(i),
                       edgecolor="white")
            ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
            ax.set_xticks(np.arange(len(detectors)), detectors, rotation=45, ha="right", fontsize=8)
            ax.set(ylim=(0, 1.25), yticks=np.linspace(0, 1, 6), ylabel="test AUROC (OOD positive)",
                   title=f"{config['experiment']}: {head} head")
            ax.legend(fontsize=8, loc="upper center", ncol=len(levels))  # above the bars, which end at 1
    fig.suptitle("OOD detectors on far, near, shift and all (far + near) OOD test images (bars: mean over seeds; "
                 "whiskers: bootstrap interval)", fontsize=10)
    save_figure(fig, png, svg)
    log.info("OOD levels figure: %d experiments x %d heads x %d detectors", len(chosen), len(heads), len(detectors))
