"""The study's comparisons as tests: each named pair of configurations is compared on the same test
images by a paired bootstrap of the difference (the same resamples for both), and a difference is
called one only where its interval excludes zero. The table is one family of comparisons: each row also
carries a bootstrap p-value and Holm's step-down decision over all rows at the family-wise level 1 - level."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.metrics.bootstrap import INTERVAL_SCOPE, METRICS, bootstrap_p_value, percentile_interval
from samderm.report.aggregate import CONFIG_KEYS, ResultsError, read_runs
from samderm.report.intervals import Distribution, bootstrap_configurations
from samderm.report.selection import select_best
from samderm.report.summaries import TASK_ORDER
from samderm.report.tables import write_table

log = logging.getLogger(__name__)

# factor -> its list in the matrix config; each level is compared with the factor's baseline
FACTORS = {"architecture": "architectures", "loss": "losses", "crop": "crops", "encoder": "encoders",
           "experiment": "experiments"}
FACTOR_RANK = {factor: i for i, factor in enumerate(FACTORS)}
TASK_RANK = {task: i for i, task in enumerate(TASK_ORDER)}
# the verdict first, the two configurations (long names) last
CLAIM_COLUMNS = ["factor", "comparison", "experiment", "task", "metric", "difference_value", "difference_low",
                 "difference_high", "excludes_zero", "p_value", "p_holm", "holm_significant", "reading", "a", "b"]


def baseline_levels(matrix: Mapping, baselines: Mapping) -> dict[str, tuple[str, list[str]]]:
    """factor -> (baseline, the other levels), for the factors with more than one level in the
    matrix; a baseline left null is the factor's first level."""
    out = {}
    for factor, key in FACTORS.items():
        levels = [str(level) for level in matrix.get(key, [])]
        baseline = baselines.get(factor) or (levels[0] if levels else None)
        if baseline is not None and baseline not in levels:
            raise ResultsError(f"report.claims.baselines.{factor}: {baseline!r} is not in matrix.{key} {levels}")
        if len(levels) > 1:
            out[factor] = (baseline, [level for level in levels if level != baseline])
    return out


def config_text(config: Sequence) -> str:
    values = dict(zip(CONFIG_KEYS, config))
    return "/".join(str(values[k]) for k in ("experiment", "loss", "architecture", "crop")) + \
        f"/{values['encoder']}-{values['pooling']}-r{values['resolution']}"


def claim_pairs(tidy: pd.DataFrame, levels: Mapping[str, tuple[str, list[str]]], metric: str) -> pd.DataFrame:
    """One row per comparison: each level at its best configuration (chosen on val by ``metric``)
    against the baseline at its best, per experiment (across experiments for the experiment factor)
    and task. Columns: factor, level, baseline, experiment, task, a, b (configuration tuples)."""
    rows = []
    for factor, (baseline, others) in levels.items():
        within = ["task"] if factor == "experiment" else ["experiment", "task"]
        best = select_best(tidy, metric, [*within, factor])
        best["config"] = list(map(tuple, best[CONFIG_KEYS].to_numpy()))
        for keys, group in best.groupby(within, sort=False):
            by_level = dict(zip(group[factor].astype(str), group["config"]))
            keys = dict(zip(within, keys if isinstance(keys, tuple) else (keys,)))
            if baseline not in by_level:
                continue
            for level in others:
                if level in by_level:
                    rows.append({"factor": factor, "level": level, "baseline": baseline,
                                 "experiment": keys.get("experiment", "all"), "task": keys["task"],
                                 "a": by_level[level], "b": by_level[baseline]})
    return pd.DataFrame(rows, columns=["factor", "level", "baseline", "experiment", "task", "a", "b"])


def paired_difference(a: Distribution, b: Distribution, metric: str, level: float
                      ) -> tuple[float, float, float, float]:
    """(difference of the seed means, low, high, p): a - b on the same resamples, its percentile interval
    and its two-sided bootstrap p-value (``bootstrap_p_value``)."""
    i = METRICS.index(metric)
    resampled = a.resampled[:, i] - b.resampled[:, i]
    low, high = percentile_interval(resampled, level)
    return float(a.mean[i] - b.mean[i]), float(low), float(high), float(bootstrap_p_value(resampled))


def holm_adjusted(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values of one family of m tests: the j-th smallest p becomes the
    largest min(1, (m - i + 1) p_(i)) over i <= j, so "adjusted p <= alpha" is Holm's decision at
    family-wise level alpha. An undefined p (NaN) counts in m, stays NaN and is never significant."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * np.nan_to_num(p[order], nan=1.0)))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return np.where(np.isnan(p), np.nan, adjusted)


def reading(difference: float, low: float, high: float, level: str, baseline: str) -> str:
    if low > 0:
        return f"{level} higher"
    if high < 0:
        return f"{baseline} higher"
    return "no difference shown" if not np.isnan(difference) else "undefined"


def claims_table(pairs: pd.DataFrame, distributions: Mapping[tuple, Distribution], metrics: Iterable[str],
                 level: float) -> pd.DataFrame:
    rows = []
    for pair in pairs.itertuples(index=False):
        a, b = distributions[(pair.a, pair.task)], distributions[(pair.b, pair.task)]
        if a.comparison != b.comparison:  # e.g. a held-out lesion class: other classes, other test images
            log.warning("claims: %s vs %s on %s left out: their %s tasks have other classes (%s vs %s) and test images, "
                        "so no paired difference exists", config_text(pair.a), config_text(pair.b), pair.task, pair.task,
                        ", ".join(a.comparison[1]), ", ".join(b.comparison[1]))
            continue
        for metric in metrics:
            difference, low, high, p = paired_difference(a, b, metric, level)
            rows.append({"factor": pair.factor, "comparison": f"{pair.level} vs {pair.baseline}",
                         "experiment": pair.experiment, "task": pair.task, "metric": metric,
                         "a": config_text(pair.a), "b": config_text(pair.b), "difference_value": difference,
                         "difference_low": low, "difference_high": high, "excludes_zero": bool(low > 0 or high < 0),
                         "p_value": p, "reading": reading(difference, low, high, pair.level, pair.baseline)})
    table = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    table["p_holm"] = holm_adjusted(table["p_value"].to_numpy(dtype=float))
    table["holm_significant"] = (table["p_holm"] <= 1 - level).astype(bool)  # NaN compares False
    return table


def tabulate_claims(runs_tsv: str | Path, run_dirs: Iterable[str | Path], manifest_tsv: str | Path,
                    out_stem: str | Path, matrix: Mapping, report: Mapping, threads: int = 1) -> pd.DataFrame:
    """Write the claims table (csv/md/tex/html) of the comparisons the study's tables invite."""
    bootstrap, claims = report["bootstrap"], report["claims"]
    unknown = set(claims["metrics"]) - set(METRICS)
    if unknown:
        raise ResultsError(f"report.claims.metrics: unknown {sorted(unknown)}; expected some of {list(METRICS)}")
    metric = report["selection_metric"]
    pairs = claim_pairs(read_runs(runs_tsv), baseline_levels(matrix, claims.get("baselines", {})), metric)
    needed = set(pairs["a"]) | set(pairs["b"])
    distributions, _ = bootstrap_configurations(run_dirs, manifest_tsv, bootstrap["resamples"], bootstrap["seed"],
                                                needed, threads) if needed else ({}, {})
    table = claims_table(pairs, distributions, claims["metrics"], bootstrap["level"])
    table = table.sort_values(["task"], key=lambda c: c.map(TASK_RANK).fillna(len(TASK_RANK)), kind="stable")
    table = table.sort_values(["factor"], key=lambda c: c.map(FACTOR_RANK), kind="stable").reset_index(drop=True)
    percent, alpha, m = f"{bootstrap['level']:.0%}", 1 - bootstrap["level"], len(table)
    write_table(table, out_stem, "Claims: paired differences on the same test images",
                f"difference = a - b (test split, mean over seeds) with its {percent} paired bootstrap interval "
                f"({bootstrap['resamples']} resamples of lesion groups, seed {bootstrap['seed']}, the same resamples "
                f"for a and b). a and b are each at their best other settings, chosen on val by {metric}. "
                "excludes_zero and reading: the interval excludes zero, unadjusted for the other comparisons. "
                f"The table holds {m} comparisons (rows). p_value: the two-sided bootstrap p-value, 2 x the smaller "
                "share of resamples with difference <= 0 or >= 0 (at most 1; undefined resamples left out; "
                f"0 = none on the other side, below the resolution 2/{bootstrap['resamples']}). p_holm: Holm's "
                f"step-down adjustment over all {m}; holm_significant: p_holm <= {alpha:.3g}, a family-wise error "
                f"rate of {alpha:.3g} over the {m} comparisons. {INTERVAL_SCOPE}")
    log.info("claims: %d pairs of configurations, %d comparisons (rows); %d significant before adjustment (interval excludes zero, %d with "
             "p <= %.3g), %d after Holm at family-wise level %.3g", len(pairs), m, int(table["excludes_zero"].sum()),
             int((table["p_value"] <= alpha).sum()), alpha, int(table["holm_significant"].sum()), alpha)
    if m and 2 / bootstrap["resamples"] > alpha / m:  # Holm's first threshold lies below the bootstrap's resolution
        log.warning("claims: with %d resamples a p-value is resolved only down to 2/%d, above Holm's smallest "
                    "threshold %.3g/%d, so the rows that pass Holm are those with p = 0 (no resample on the other "
                    "side of zero); report.bootstrap.resamples >= %d resolves every threshold", bootstrap["resamples"],
                    bootstrap["resamples"], alpha, m, int(np.ceil(2 * m / alpha)))
    return table
