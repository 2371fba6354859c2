"""Metrics per subgroup of images (sex, age band, site, Fitzpatrick type, ITA category), with paired bootstrap
intervals.

Subgroups come from the manifest's metadata columns, ``age_band`` (derived from ``age`` with
``subgroups.age_edges``) and ``ita_category`` (from ita.tsv). An image whose value is unknown ("") belongs to the
subgroup ``unknown``: it is counted, never dropped.

PAIRED resampling: one weight matrix W (resamples x images) of all the images of a split
(``group_weights`` of their resampling groups) serves every subgroup: a subgroup's value in resample b is the metric
of its images under W[b] restricted to them. Subgroups that share lesion groups (or patients) thus move together,
and the gap between two subgroups (best - worst, both fixed by the point values) is read off the same resamples:
gap_b = metric_b[best] - metric_b[worst] (for a lower-is-better metric such as ECE, worst - best, so a gap is
never negative). A subgroup with fewer than ``min_size`` images gets its value and counts but no interval, and is
no candidate for the worst or best group.

The classification metrics are those of the external-sources table, by the same code
(``samderm.metrics.bootstrap.side_metrics``: balanced accuracy, macro-F1, AUROC and the equal-width
top-label ECE of ``samderm.metrics.calibration.weighted_ece``)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.metrics.bootstrap import full_sample, percentile_interval, side_metrics

UNKNOWN = "unknown"  # the subgroup of images whose value is unknown
ALL = "all"  # the column and group of the row over all the images of a split
AGE, AGE_BAND, ITA_CATEGORY = "age", "age_band", "ita_category"
ITA_ORDER = ("very_light", "light", "intermediate", "tan", "brown", "dark")
LOWER_IS_BETTER = frozenset({"ece"})
GATE_RATES = ("not_skin", "ood", "rejected")  # shares rejected by the skin head, by the OOD gate, by either
GROUP_COLUMNS = ["column", "group", "n_images", "n_groups", "too_small"]
GAP_COLUMNS = ["column", "metric", "worst_group", "worst_value", "best_group", "best_value", "gap_value", "gap_low",
               "gap_high", "n_eligible"]


# --- subgroup values ------------------------------------------------------------------------------------------

def age_band_labels(edges: Sequence[float]) -> list[str]:
    """"<e0", "e0-(e1-1)", ..., ">=eN" for increasing integer-valued ``edges`` (a band holds e_i <= age < e_i+1)."""
    edges = [float(e) for e in edges]
    if not edges or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"subgroups.age_edges must be increasing and not empty, got {edges}")
    text = [f"{e:g}" for e in edges]
    inner = [f"{a}-{b - 1:g}" if float(b).is_integer() and float(a).is_integer() else f"{a}-<{b:g}"
             for a, b in zip(text, edges[1:])]
    return [f"<{text[0]}", *inner, f">={text[-1]}"]


def age_bands(ages: Sequence, edges: Sequence[float]) -> np.ndarray:
    """The band of each age (text or number) with ``edges``: e_i <= age < e_i+1; "" for an unknown age (empty,
    not a number, or negative)."""
    labels = age_band_labels(edges)
    numbers = pd.to_numeric(pd.Series(list(ages), dtype=object).replace("", np.nan), errors="coerce").to_numpy(float)
    index = np.searchsorted(np.asarray(edges, dtype=float), numbers, side="right")
    known = np.isfinite(numbers) & (numbers >= 0)
    return np.where(known, np.asarray(labels, dtype=object)[np.clip(index, 0, len(labels) - 1)], "").astype(object)


def subgroup_values(manifest: pd.DataFrame, ita: pd.DataFrame | None, columns: Sequence[str],
                    age_edges: Sequence[float]) -> pd.DataFrame:
    """One row per manifest image (index image_id), one column per subgroup column: ``age_band`` from ``age``,
    ``ita_category`` from ``ita`` (image_id, ita_category; an image without a row is unknown), any other name the
    manifest's column. Unknown values ("" or missing) are ``UNKNOWN``."""
    frame = manifest.drop_duplicates("image_id").set_index("image_id")
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        if column == AGE_BAND:
            if AGE not in frame.columns:
                raise ValueError(f"manifest: no column {AGE!r} to derive {AGE_BAND!r} from")
            values = age_bands(frame[AGE].fillna("").astype(str), age_edges)
        elif column == ITA_CATEGORY:
            if ita is None or ITA_CATEGORY not in ita.columns:
                raise ValueError(f"subgroup column {ITA_CATEGORY!r} needs ita.tsv with an {ITA_CATEGORY} column")
            values = ita.drop_duplicates("image_id").set_index("image_id")[ITA_CATEGORY].reindex(frame.index)
        elif column in frame.columns:
            values = frame[column]
        else:
            raise ValueError(f"subgroup column {column!r} is neither {AGE_BAND}, {ITA_CATEGORY} nor a manifest column")
        text = pd.Series(values, index=frame.index, dtype=object).fillna("").astype(str).str.strip()
        out[column] = text.mask(text == "", UNKNOWN)
    return out


def group_order(column: str, values: Sequence[str], age_edges: Sequence[float] = ()) -> list[str]:
    """The subgroups of ``column`` in reading order: age bands and ITA categories in their natural order, other
    values sorted; ``UNKNOWN`` last."""
    present = set(values)
    if column == AGE_BAND and age_edges:
        natural = age_band_labels(age_edges)
    elif column == ITA_CATEGORY:
        natural = list(ITA_ORDER)
    else:
        natural = []
    known = [v for v in natural if v in present]
    rest = sorted(present - set(natural) - {UNKNOWN})
    return [*known, *rest, *([UNKNOWN] if UNKNOWN in present else [])]


# --- paired subgroup scores -----------------------------------------------------------------------------------

Score = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (weights restricted to a subgroup, its mask) -> (rows, k)


@dataclass(frozen=True)
class SubgroupScores:
    """One subgroup column on one split: a row per group (``GROUP_COLUMNS`` + ``{metric}_value/low/high``) and a
    row per metric of the largest gap (``GAP_COLUMNS``)."""
    groups: pd.DataFrame
    gaps: pd.DataFrame


def _quiet_score(score: Score, weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample that draws none of a group's images: NaN
        return np.asarray(score(weights, mask), dtype=float)


def paired_subgroups(column: str, values: Sequence[str], groups: Sequence, weights: np.ndarray, score: Score,
                     metrics: Sequence[str], min_size: int, level: float, order: Sequence[str] | None = None,
                     lower_is_better: frozenset[str] | set[str] = LOWER_IS_BETTER) -> SubgroupScores:
    """Each subgroup (value of ``values``, one per image) of one split scored on the shared resamples ``weights``
    (resamples x images: all the split's images, in the order of ``values``). ``score(w, mask)`` gives the
    ``metrics`` of the images ``mask`` under the weight rows ``w`` (columns: those images). Groups with fewer than
    ``min_size`` images: value and counts, no interval, ``too_small``; the worst and best group of each metric
    are chosen by point value among the others whose value is known (not ``unknown``: a missing value is no
    group of people; lowest is worst; highest for ``lower_is_better``), and the gap (best - worst; worst - best
    when lower is better) has its interval from the same resamples. Fewer than two such groups: no worst group
    and no gap."""
    values = np.asarray(values, dtype=object)
    groups = np.asarray(groups).astype(str)
    weights = np.asarray(weights, dtype=float)
    if weights.shape[1] != len(values) or len(groups) != len(values):
        raise ValueError(f"paired_subgroups: {len(values)} values, {len(groups)} groups and weights of "
                         f"{weights.shape[1]} images")
    names = list(order) if order is not None else group_order(column, list(values))
    rows, points, resampled = [], {}, {}
    for name in names:
        mask = values == name
        n = int(mask.sum())
        if n == 0:
            continue
        point = _quiet_score(score, full_sample(n), mask)[0]
        small = n < min_size
        if small:
            low = high = np.full(len(metrics), np.nan)
        else:
            resampled[name] = _quiet_score(score, weights[:, mask], mask)
            low, high = percentile_interval(resampled[name], level)
        points[name] = point
        rows.append([column, name, n, len(set(groups[mask])), small,
                     *[float(x) for m in range(len(metrics)) for x in (point[m], low[m], high[m])]])
    columns = [*GROUP_COLUMNS, *[f"{m}_{p}" for m in metrics for p in ("value", "low", "high")]]
    gaps = []
    for k, metric in enumerate(metrics):
        sign = -1.0 if metric in lower_is_better else 1.0  # sign * value: higher is better
        eligible = [g for g in resampled if g != UNKNOWN and math.isfinite(points[g][k])]
        if len(eligible) < 2:
            gaps.append([column, metric, "", np.nan, "", np.nan, np.nan, np.nan, np.nan, len(eligible)])
            continue
        goodness = np.array([sign * points[g][k] for g in eligible])
        worst = eligible[int(np.argmin(goodness))]
        others = [i for i, g in enumerate(eligible) if g != worst]  # all tied: the best is another group
        best = eligible[others[int(np.argmax(goodness[others]))]]
        gap = sign * (points[best][k] - points[worst][k])
        low, high = percentile_interval(sign * (resampled[best][:, k] - resampled[worst][:, k]), level)
        gaps.append([column, metric, worst, float(points[worst][k]), best, float(points[best][k]), float(gap),
                     float(low), float(high), len(eligible)])
    return SubgroupScores(pd.DataFrame(rows, columns=columns), pd.DataFrame(gaps, columns=GAP_COLUMNS))


def classification_score(labels: np.ndarray, probabilities: np.ndarray, n_bins: int) -> Score:
    """``score`` of ``paired_subgroups`` for ``METRICS`` (balanced accuracy, macro-F1, AUROC, ECE) of a task's
    predictions (labels, probabilities of all the split's images), by ``samderm.metrics.bootstrap.side_metrics``."""
    labels, probabilities = np.asarray(labels, dtype=int), np.asarray(probabilities, dtype=float)
    return lambda w, mask: side_metrics(w, labels[mask], probabilities[mask], n_bins)


def rejection_score(outcome: Sequence[str], not_skin: str, ood: str) -> Score:
    """``score`` of ``paired_subgroups`` for ``GATE_RATES``: the weighted share of a subgroup's images rejected by
    the skin head (outcome ``not_skin``), by the OOD gate (``ood``; a share of all the subgroup's images, not of
    those the skin head passed) and by either."""
    outcome = np.asarray(outcome, dtype=object)
    rejected = np.stack([outcome == not_skin, outcome == ood, np.isin(outcome, [not_skin, ood])], axis=1).astype(float)

    def score(w: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return (w @ rejected[mask]) / w.sum(axis=1, keepdims=True)

    return score


def score_columns(table: pd.DataFrame, groups: Sequence, weights: np.ndarray, score: Score, metrics: Sequence[str],
                  columns: Sequence[str], min_size: int, level: float,
                  age_edges: Sequence[float] = ()) -> SubgroupScores:
    """``paired_subgroups`` of every subgroup column of ``table`` (one row per image of the split, in the order
    of ``weights``' columns) on the same ``weights``, after a row over all the images (column and group ``ALL``)."""
    everything = paired_subgroups(ALL, np.full(len(table), ALL, dtype=object), groups, weights, score, metrics,
                                  min_size, level, order=[ALL])
    parts = [everything]
    for column in columns:
        values = table[column].to_numpy(dtype=object)
        parts.append(paired_subgroups(column, values, groups, weights, score, metrics, min_size, level,
                                      order=group_order(column, list(values), age_edges)))
    return SubgroupScores(pd.concat([p.groups for p in parts], ignore_index=True),
                          pd.concat([p.gaps for p in parts[1:]], ignore_index=True) if columns
                          else pd.DataFrame(columns=GAP_COLUMNS))


def settings(subgroups: Mapping) -> tuple[list[str], list[float], int]:
    """(columns, age_edges, min_size) of the config's ``subgroups`` block, with its defaults."""
    columns = list(subgroups.get("columns", ["sex", AGE_BAND, "site", "fitzpatrick", ITA_CATEGORY]))
    edges = [float(e) for e in subgroups.get("age_edges", [30, 45, 60, 75])]
    min_size = int(subgroups.get("min_size", 10))
    if AGE_BAND in columns:
        age_band_labels(edges)  # checks the edges
    return columns, edges, min_size
