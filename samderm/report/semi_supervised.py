"""The semi-supervised table: per semi-supervised configuration, what happened to its unlabeled
pool (gated out by reason, pseudo-labelled per class; mean over seeds) and its lesion test metrics
against the same configuration trained without semi-supervision (paired bootstrap)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from samderm.io import read_tsv
from samderm.metrics.bootstrap import METRICS, percentile_interval
from samderm.report.aggregate import ResultsError
from samderm.report.claims import config_text
from samderm.report.intervals import bootstrap_configurations, config_of
from samderm.report.tables import write_table
from samderm.train.semi_supervised import GATED_OUT, PSEUDO_LABEL

log = logging.getLogger(__name__)
TASK = "lesion"


def twin_config(config: tuple, twin: str | None) -> tuple | None:
    return None if twin is None else (twin, *config[1:])


def _twin_dir(run_dir: Path, twin: str) -> Path:
    """The same run directory with the twin experiment (results/runs/{exp}/...)."""
    parts = list(run_dir.parts)
    parts[parts.index("runs") + 1] = twin
    return Path(*parts)


def pool_counts(table: pd.DataFrame, classes: Sequence[str], where: str) -> dict[str, float]:
    """One run's semi_supervised.tsv as counts: unlabeled, pseudo_labelled, each gate reason, each class."""
    unknown = set(table["outcome"]) - {PSEUDO_LABEL, *GATED_OUT}
    if unknown:
        raise ResultsError(f"{where}: unknown outcome(s) {sorted(unknown)}")
    labelled = table["outcome"] == PSEUDO_LABEL
    counts = {"unlabeled": len(table), "pseudo_labelled": int(labelled.sum())}
    counts.update({reason: int((table["outcome"] == reason).sum()) for reason in GATED_OUT})
    counts.update({f"pseudo:{c}": int((table.loc[labelled, "pseudo_label"] == c).sum()) for c in classes})
    return counts


def semi_supervised_table(run_dirs: Iterable[str | Path], twins: Mapping[str, str | None], manifest_tsv: str | Path,
                          classes: Sequence[str], metrics: Sequence[str], bootstrap: Mapping) -> pd.DataFrame:
    """One row per semi-supervised configuration (``run_dirs``: its runs, every seed; the twins'
    runs are found beside them)."""
    runs = [Path(d) for d in run_dirs]
    by_config: dict[tuple, list[Path]] = {}
    for d in runs:
        by_config.setdefault(config_of(d), []).append(d)
    pairs = {c: twin_config(c, twins.get(c[0])) for c in by_config}
    twin_dirs = {c: [_twin_dir(d, pairs[c][0]) for d in ds] for c, ds in by_config.items() if pairs[c]}
    for config, dirs in list(twin_dirs.items()):
        if not all((d / "predictions.tsv").is_file() for d in dirs):  # the twin is not in the matrix: no difference
            log.info("%s: the supervised twin %s has no run for every seed; no paired difference", config_text(config),
                     config_text(pairs[config]))
            pairs[config] = None
            del twin_dirs[config]
    distributions, _ = bootstrap_configurations([*runs, *(d for ds in twin_dirs.values() for d in ds)], manifest_tsv, bootstrap["resamples"],
                                                bootstrap["seed"], None, 1)
    rows = []
    for config, dirs in by_config.items():
        counts = pd.DataFrame([pool_counts(read_tsv(d / "semi_supervised.tsv"), classes, str(d)) for d in dirs])
        row = {"configuration": config_text(config), "supervised": config_text(pairs[config]) if pairs[config] else "",
               "seeds": len(dirs), **counts.mean().to_dict()}
        mine, twin = distributions[(config, TASK)], distributions.get((pairs[config], TASK))
        for metric in metrics:
            i = METRICS.index(metric)
            row[f"{metric}_mean"], row[f"{metric}_std"] = float(mine.mean[i]), float(mine.std[i])
            if twin is not None:  # a - b on the same resamples of lesion groups
                low, high = percentile_interval(mine.resampled[:, i] - twin.resampled[:, i], bootstrap["level"])
                row[f"{metric}_vs_supervised_value"] = float(mine.mean[i] - twin.mean[i])
                row[f"{metric}_vs_supervised_low"], row[f"{metric}_vs_supervised_high"] = float(low), float(high)
        rows.append(row)
    return pd.DataFrame(rows)


def tabulate_semi_supervised(run_dirs: Iterable[str | Path], twins: Mapping[str, str | None], manifest_tsv: str | Path,
                             out_stem: str | Path, classes: Sequence[str], report: Mapping) -> pd.DataFrame:
    """Write results/tables/semi_supervised.{csv,md,tex,html}."""
    bootstrap, metrics = report["bootstrap"], [m for m in report["claims"]["metrics"] if m != "auroc"]
    table = semi_supervised_table(run_dirs, twins, manifest_tsv, classes, metrics, bootstrap)
    write_table(table, out_stem, "Semi-supervised heads: the unlabeled pool and the outcome",
                f"Counts: mean over seeds of the unlabeled images per outcome (dropped as a near-duplicate of a val or "
                f"test image, gated out as not skin or OOD by the "
                f"supervised model, below the confidence threshold, over the per-class cap; pseudo-labelled per "
                f"lesion class). Lesion test metrics: mean ± sd over seeds; vs supervised = minus the same "
                f"configuration without semi-supervision, with its {bootstrap['level']:.0%} paired bootstrap interval "
                f"({bootstrap['resamples']} resamples of lesion groups, seed {bootstrap['seed']}).")
    log.info("semi-supervised table: %d configuration(s)%s", len(table), "".join(
        f"\n  {r['configuration']}: {r['pseudo_labelled']:.0f} of {r['unlabeled']:.0f} pseudo-labelled"
        for r in table.to_dict("records")))
    return table

