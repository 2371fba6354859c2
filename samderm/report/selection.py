"""Mean and spread over seeds, and the best configuration chosen on validation (never on test)."""

from __future__ import annotations

from typing import Collection, Sequence

import pandas as pd

from samderm.report.aggregate import CONFIG_KEYS, ResultsError

SELECTION_SPLIT = "val"
REPORT_SPLIT = "test"


def over_seeds(tidy: pd.DataFrame, split: str, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (configuration, task) of ``split``: ``{metric}_mean``, ``{metric}_std`` (sample
    standard deviation over seeds, NaN with one seed) and ``n_seeds``."""
    rows = tidy[(tidy["split"] == split) & tidy["metric"].isin(metrics)]
    absent = set(metrics) - set(rows["metric"])
    if absent:
        raise ResultsError(f"no {split} values of {sorted(absent)} in the runs table")
    keys = CONFIG_KEYS + ["task"]
    stats = rows.groupby(keys + ["metric"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    wide = stats.pivot(index=keys, columns="metric", values=["mean", "std"])
    wide.columns = [f"{metric}_{stat}" for stat, metric in wide.columns]
    n_seeds = stats.groupby(keys, sort=False)["count"].min().rename("n_seeds")
    wide = wide.join(n_seeds).reset_index()
    ordered = [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    return wide[keys + ordered + ["n_seeds"]]


# tiny validation sets tie often: equal means (to this many decimals) go to the tie-breakers
TIE_DECIMALS = 12
TIE_RULE = ("ties go to the higher mean validation {second}, then to the configuration listed first in the "
            "config's matrix (experiments, losses, architectures, crops, encoders, resolutions in their order)")


def second_key(metric: str) -> str:
    """The tie-breaking validation metric: balanced accuracy, or macro-F1 when selecting by it."""
    return "macro_f1" if metric == "balanced_accuracy" else "balanced_accuracy"


def tie_rule(metric: str) -> str:
    return TIE_RULE.format(second=second_key(metric).replace("_", " "))


def select_best(tidy: pd.DataFrame, metric: str, group_by: Sequence[str] = ("task",)) -> pd.DataFrame:
    """For each ``group_by`` group, the configuration with the highest mean ``metric`` on the
    validation split; ties (equal to TIE_DECIMALS) go to the higher mean val ``second_key(metric)``,
    then to the configuration whose runs come first in ``tidy`` (runs.tsv keeps the matrix order
    of the config). Test values play no part."""
    second = second_key(metric)
    val = over_seeds(tidy, SELECTION_SPLIT, [metric, second])
    order = tidy.drop_duplicates(CONFIG_KEYS)[CONFIG_KEYS].assign(_matrix_order=lambda t: range(len(t)))
    val = val.merge(order, on=CONFIG_KEYS, how="left", validate="many_to_one")
    score, tie = f"{metric}_mean", f"{second}_mean"
    val["_score"], val["_tie"] = val[score].round(TIE_DECIMALS), val[tie].round(TIE_DECIMALS)
    ranked = val.sort_values([*group_by, "_score", "_tie", "_matrix_order"],
                             ascending=[True] * len(group_by) + [False, False, True], kind="stable")
    best = ranked.groupby(list(group_by), sort=True).head(1)
    keep = list(dict.fromkeys([*group_by, *CONFIG_KEYS, "task"]))
    return best[keep + [score]].rename(columns={score: f"val_{metric}"}).reset_index(drop=True)


def best_on_test(tidy: pd.DataFrame, metric: str, group_by: Sequence[str], report: Sequence[str]) -> pd.DataFrame:
    """The best configuration of each group (chosen on val by ``metric``) with its test ``report``
    metrics, mean and spread over seeds."""
    best = select_best(tidy, metric, group_by)
    test = over_seeds(tidy, REPORT_SPLIT, report)
    table = best.merge(test, on=CONFIG_KEYS + ["task"], how="left", validate="one_to_one")
    lacking = table[f"{report[0]}_mean"].isna()
    if lacking.any():
        row = table[lacking].iloc[0]
        raise ResultsError(f"the configuration chosen on val has no test values: {dict(row[CONFIG_KEYS + ['task']])}")
    return table


def open_set_rows(tidy: pd.DataFrame, held_out_experiments: Collection[str]) -> pd.Series:
    """The lesion rows of experiments that hold out lesion classes: fewer classes and test images, so they are
    never the study's best lesion model (their other tasks are candidates like any run's)."""
    return (tidy["task"] == "lesion") & tidy["experiment"].isin(list(held_out_experiments))
