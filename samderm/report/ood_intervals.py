"""Bootstrap intervals of the OOD detectors' test AUROC from each OOD run's scores.tsv, and of its
paired difference to the baseline detector (MSP) on the same resamples."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from samderm.io import read_tsv, write_tsv
from samderm.logs import progress
from samderm.metrics.bootstrap import binary_auroc, full_sample, group_weights, percentile_interval
from samderm.ood.metrics import ALL_LEVELS, LEVEL_ORDER, pooled_in_all
from samderm.report.aggregate import CONFIG_KEYS, ResultsError, read_with_columns
from samderm.report.intervals import Distribution, config_of
from samderm.report.predictions import image_groups

log = logging.getLogger(__name__)

OOD_KEYS = CONFIG_KEYS + ["head", "ood_level", "detector"]
OOD_INTERVAL_COLUMNS = OOD_KEYS + ["metric", "mean", "std", "low", "high", "n_seeds", "n_images", "n_groups",
                                   "n_resamples", "level"]
SCORE_COLUMNS = ["image_id", "split", "in_distribution", "head", "detector", "score"]


def scores_of_test_split(path: str | Path) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(head, detector) -> (image ids sorted, is OOD, OOD level, score) of the test rows of one scores.tsv
    (level empty for in-distribution rows; ``all`` for the OOD rows of a file written before the levels)."""
    table = read_with_columns(path, SCORE_COLUMNS)
    test = table[table["split"] == "test"].sort_values("image_id", kind="stable")
    is_ood = test["in_distribution"].astype(int) == 0
    level = test["ood_level"] if "ood_level" in test else pd.Series(ALL_LEVELS, index=test.index)
    test = test.assign(is_ood=is_ood, ood_level=level.where(is_ood, ""))
    return {(head, detector): (rows["image_id"].to_numpy(dtype=str), rows["is_ood"].to_numpy(),
                               rows["ood_level"].to_numpy(dtype=str), rows["score"].astype(float).to_numpy())
            for (head, detector), rows in test.groupby(["head", "detector"], sort=False)}


def bootstrap_ood(ood_dirs: Iterable[str | Path], manifest_tsv: str | Path, output: str | Path, n_resamples: int,
                  level: float, seed: int, baseline: str) -> pd.DataFrame:
    """Write ``results/tables/ood_intervals.tsv``: per configuration, head, OOD level (far, near, shift: the test
    OOD images of that level; all: every far and near one, never shift) and detector the test AUROC (metric auroc) and AUROC minus the
    baseline's (auroc_vs_{baseline}), mean and std over seeds and the percentile interval of the seed mean
    over resamples of lesion groups (OOD images: one group each), against all in-distribution test images."""
    manifest = read_tsv(manifest_tsv)
    heads: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    distributions: dict[tuple, Distribution] = {}
    n_images: dict[tuple, tuple[int, int]] = {}  # images and groups of each level's comparison
    for ood_dir in progress(list(ood_dirs), desc="bootstrap OOD", unit="run"):
        auroc = {}
        for (head, detector), (ids, is_ood, ood_level, score) in scores_of_test_split(Path(ood_dir) / "scores.tsv").items():
            if head not in heads:
                groups = image_groups(manifest, ids, str(manifest_tsv))
                heads[head] = (ids, groups, group_weights(groups, n_resamples, seed))
            if not np.array_equal(heads[head][0], ids):
                raise ResultsError(f"{ood_dir}/scores.tsv: head {head!r}, detector {detector!r} scores other test "
                                   "images than the other runs")
            pooled = is_ood & pooled_in_all(ood_level)  # all = far + near: shift is never pooled
            for ood_group in [lv for lv in LEVEL_ORDER[:-1] if (ood_level == lv).any()] + ([ALL_LEVELS] if pooled.any() else []):
                # the same resamples, restricted to the in-distribution images and this level's OOD images
                part = ~is_ood | (ood_level == ood_group) if ood_group != ALL_LEVELS else ~is_ood | pooled
                auroc[(head, ood_group, detector)] = (
                    binary_auroc(full_sample(int(part.sum())), is_ood[part], score[part])[0],
                    binary_auroc(heads[head][2][:, part], is_ood[part], score[part]))
                n_images[(config_of(ood_dir), head, ood_group, detector)] = (int(part.sum()), len(set(heads[head][1][part])))
        for (head, ood_group, detector), (point, resampled) in auroc.items():
            base_point, base_resampled = auroc.get((head, ood_group, baseline), (np.nan, np.full_like(resampled, np.nan)))
            distributions.setdefault((config_of(ood_dir), head, ood_group, detector), Distribution()).add(
                np.array([point, point - base_point]), np.stack([resampled, resampled - base_resampled], axis=1))
    if not distributions:
        raise ResultsError("no OOD scores to bootstrap")
    rows = []
    for (config, head, ood_group, detector), dist in distributions.items():
        low, high = percentile_interval(dist.resampled, level)
        weights = heads[head][2]
        for i, metric in enumerate(["auroc", f"auroc_vs_{baseline}"]):
            rows.append((*config, head, ood_group, detector, metric, dist.mean[i], dist.std[i], low[i], high[i],
                         len(dist.per_seed), *n_images[(config, head, ood_group, detector)], len(weights), level))
    table = pd.DataFrame(rows, columns=OOD_INTERVAL_COLUMNS)
    write_tsv(table, output)
    log.info("OOD intervals: %d configurations x heads x detectors, %d resamples -> %s", len(distributions),
             n_resamples, output)
    return table
