"""Label efficiency: test metrics against the fraction of training lesion groups
(``experiments.<name>.label_fraction``), per encoder and head.

A family is a set of experiments whose settings are equal except for ``label_fraction``
(missing = 1.0) and that take at least two different fractions; its base is the member with
the largest fraction (normally the full-data experiment).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from samderm.report.aggregate import read_runs
from samderm.report.selection import REPORT_SPLIT, over_seeds
from samderm.report.style import colour, new_figure, save_figure, styled
from samderm.report.tables import write_table

log = logging.getLogger(__name__)

KEY = "label_fraction"
METRICS = ("macro_f1", "balanced_accuracy", "accuracy")
METRIC_NAMES = {"macro_f1": "macro-F1", "balanced_accuracy": "balanced accuracy", "accuracy": "accuracy"}
# one line per configuration: only the fraction changes along it (the best loss on val at each fraction would
# compare other losses and crops as well)
LINE_KEYS = ["encoder", "pooling", "resolution", "architecture", "loss", "crop"]
TABLE_COLUMNS = ["family", "experiment", KEY, "task", "loss", "architecture", "crop", "encoder", "pooling",
                 "resolution", "n_seeds", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std")), "curve"]
TASK_ORDER = ("skin", "lesion", "malignancy")


def fraction_of(settings: Mapping[str, Any]) -> float:
    value = settings.get(KEY)
    return 1.0 if value is None else float(value)


def label_fraction_families(experiments: Mapping[str, Mapping], present: Sequence[str] | None = None
                            ) -> dict[str, dict[str, float]]:
    """{base experiment: {experiment: fraction}} of every family with two or more fractions among
    ``present`` (default: all experiments), members by ascending fraction. Two members of one
    family with the same fraction: the first in config order counts, the other is logged."""
    names = [e for e in experiments if present is None or e in set(present)]
    by_rest: dict[str, dict[str, float]] = {}
    for name in names:
        rest = {k: v for k, v in experiments[name].items() if k != KEY}
        members = by_rest.setdefault(json.dumps(rest, sort_keys=True, default=str), {})
        fraction = fraction_of(experiments[name])
        same = [m for m, f in members.items() if f == fraction]
        if same:
            log.info("%s: %s has the settings and fraction %g of %s; only %s is plotted", KEY, name, fraction,
                     same[0], same[0])
            continue
        members[name] = fraction
    families = {}
    for members in by_rest.values():
        if len(members) < 2:
            continue
        base = max(members, key=lambda m: members[m])  # the first of the largest fraction
        families[base] = dict(sorted(members.items(), key=lambda mf: mf[1]))
    return families


def label_efficiency_table(tidy: pd.DataFrame, experiments: Mapping[str, Mapping]) -> pd.DataFrame:
    """Per (family, fraction, task, configuration): test mean and sd over seeds of METRICS, and ``curve``:
    whether the configuration (LINE_KEYS) runs at two fractions or more of its family (a line of the figure)."""
    families = label_fraction_families(experiments, list(dict.fromkeys(tidy["experiment"])))
    member = {e: (base, f) for base, members in families.items() for e, f in members.items()}
    rows = tidy[tidy["experiment"].isin(list(member))]
    if rows.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    test = over_seeds(rows, REPORT_SPLIT, list(METRICS))
    test["family"] = test["experiment"].map(lambda e: member[e][0])
    test[KEY] = test["experiment"].map(lambda e: member[e][1])
    test["curve"] = test.groupby(["family", "task", *LINE_KEYS])[KEY].transform("nunique") > 1
    order = {f: i for i, f in enumerate(families)}
    tasks = {t: i for i, t in enumerate(dict.fromkeys([*TASK_ORDER, *test["task"]]))}
    test = test.assign(_f=test["family"].map(order), _t=test["task"].map(tasks))
    test = test.sort_values(["_f", "_t", *LINE_KEYS, KEY], kind="stable")
    return test[TABLE_COLUMNS].reset_index(drop=True)


def _line_label(row: Mapping, several_families: bool, several_sets: bool) -> str:
    features = f"{row['encoder']}-{row['pooling']}-r{row['resolution']}" if several_sets else row["encoder"]
    text = f"{features} / {row['architecture']} / {row['loss']} / {row['crop']}"
    return f"{row['family']}: {text}" if several_families else text


@styled
def plot_label_efficiency(table: pd.DataFrame, png: str | Path, svg: str | Path | None = None) -> None:
    """One panel per task (rows) and metric (columns): mean test value (error bars: sd over seeds)
    against the label fraction (log scale), one line per family and configuration run at two fractions or
    more (``curve``). Without one: a figure that says so."""
    chosen = table[table["curve"].astype(bool)] if len(table) else table
    if chosen.empty:
        fig, axes = new_figure(width=6.4, height=2.4)
        ax = axes[0, 0]
        ax.axis("off")
        ax.text(0.5, 0.5, "No label-efficiency curve: no configuration of the matrix runs in two experiments that differ\n"
                f"only in experiments.<name>.{KEY} (missing = 1.0), so there is nothing to plot.",
                ha="center", va="center", wrap=True)
        save_figure(fig, png, svg)
        log.info("label efficiency: no experiment family with two label fractions for one head; wrote a figure that says so")
        return
    tasks = list(dict.fromkeys(chosen["task"]))
    several_families = chosen["family"].nunique() > 1
    several_sets = chosen[["encoder", "pooling", "resolution"]].drop_duplicates().shape[0] > \
        chosen["encoder"].nunique()
    lines = list(dict.fromkeys(map(tuple, chosen[["family", *LINE_KEYS]].to_numpy())))
    fractions = sorted(set(chosen[KEY]))
    fig, axes = new_figure(len(tasks), len(METRICS), width=4.4, height=3.4, sharex=True)
    for r, task in enumerate(tasks):
        for c, metric in enumerate(METRICS):
            ax = axes[r, c]
            part = chosen[chosen["task"] == task]
            for i, line in enumerate(lines):
                points = part[(part[["family", *LINE_KEYS]].apply(tuple, axis=1) == line)].sort_values(KEY)
                if points.empty:
                    continue
                label = _line_label(dict(zip(["family", *LINE_KEYS], line)), several_families, several_sets)
                ax.errorbar(points[KEY], points[f"{metric}_mean"], yerr=points[f"{metric}_std"].fillna(0),
                            marker="o", capsize=3, color=colour(i), label=label)
            ax.set_xscale("log")
            ax.set_xticks(fractions, [f"{f:g}" for f in fractions])
            ax.minorticks_off()
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{task}: {METRIC_NAMES.get(metric, metric)}")
            if r == len(tasks) - 1:
                ax.set_xlabel("fraction of train lesion groups")
            if c == 0:
                ax.set_ylabel("test (mean over seeds)")
    legend = {}  # a line may be absent from some tasks: its handle from any panel
    for ax in axes[:, 0]:
        legend.update({lb: h for h, lb in zip(*ax.get_legend_handles_labels()) if lb not in legend})
    axes[0, -1].legend(list(legend.values()), list(legend), title="features / head / loss / crop", loc="upper left",
                       bbox_to_anchor=(1.01, 1))
    fig.suptitle("Label efficiency: each line one configuration, only the fraction of training lesion groups changes")
    save_figure(fig, png, svg)
    log.info("label efficiency figure: %d task(s), %d line(s), fractions %s", len(tasks), len(lines), fractions)


def label_efficiency(runs_tsv: str | Path, experiments: Mapping[str, Mapping], png: str | Path, svg: str | Path,
                     table_stem: str | Path) -> pd.DataFrame:
    """Write results/figures/label_efficiency.{png,svg} and results/tables/label_efficiency.{csv,md,tex,html}."""
    table = label_efficiency_table(read_runs(runs_tsv), experiments)
    plot_label_efficiency(table, png, svg)
    note = (f"Experiments equal except for {KEY} (missing = 1.0), grouped into families named by their "
            f"largest-fraction member; the fraction is of the training lesion groups, drawn per class and seed "
            f"(at least one group per class); not-skin, val and test images are all kept. Test metrics: mean ± sd "
            f"over seeds. curve: the configuration runs at two fractions or more of its family (a line of the figure).")
    if table.empty:
        note = f"No two experiments of the matrix differ only in {KEY}: nothing to compare. " + note
    write_table(table, table_stem, "Label efficiency: test metrics by fraction of training lesion groups", note)
    log.info("label efficiency table: %d row(s), %d famil(y/ies)", len(table), table["family"].nunique())
    return table
