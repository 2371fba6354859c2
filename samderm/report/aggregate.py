"""Every run of the matrix in one tidy table: one row per (run, task, split, metric)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from samderm.data.splits import EXTERNAL_PREFIX
from samderm.io import read_json, read_tsv, write_tsv
from samderm.logs import progress
from samderm.matrix import Run
from samderm.metrics.collapse import CHANCE_MARGIN, MAX_SHARE, collapse_check
from samderm.ood.metrics import METRICS as OOD_METRICS
from samderm.ood.metrics import convention

log = logging.getLogger(__name__)

RUN_KEYS = ["experiment", "loss", "architecture", "crop", "encoder", "pooling", "resolution", "seed"]
# a configuration is a run without its seed: seeds are what mean and spread are taken over
CONFIG_KEYS = RUN_KEYS[:-1]
TIDY_COLUMNS = RUN_KEYS + ["task", "split", "metric", "value"]
OOD_COLUMNS = RUN_KEYS + ["head", "detector", "params", "protocol", "ood_level", "metric", "value"]


class ResultsError(ValueError):
    """A results file that does not follow its contract (the message names the file)."""


def run_of(metrics: Mapping[str, Any], source: str | Path) -> Run:
    """The run a metrics.json describes, checked against the directory it lies in."""
    try:
        run = Run(**{k: metrics["run"][k] for k in RUN_KEYS})
    except (KeyError, TypeError) as missing:
        raise ResultsError(f"{source}: 'run' lacks key {missing}") from None
    run = Run(**{**run.as_dict(), "resolution": int(run.resolution), "seed": int(run.seed)})
    if not Path(source).parent.as_posix().endswith(run.path):
        raise ResultsError(f"{source}: its 'run' block describes {run.path}, not the directory it lies in")
    return run


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ResultsError(f"{where}: expected a number, got {value!r}")
    return float(value)


def collapse_rows(confusion: Any, where: str, collapse: Mapping[str, float]) -> list[tuple[str, float]]:
    """``collapsed`` (1 or 0, samderm.metrics.collapse's two rules with ``collapse``'s max_share and
    chance_margin) and ``top_class_share`` of one split, from its confusion matrix (rows = truth)."""
    matrix = np.asarray(confusion, dtype=np.int64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.sum() == 0:
        raise ResultsError(f"{where}: expected a square confusion matrix with counts, got shape {matrix.shape}")
    cells = np.indices(matrix.shape).reshape(2, -1)
    labels, predicted = (np.repeat(c, matrix.ravel()) for c in cells)
    check = collapse_check(labels, predicted, len(matrix), max_share=float(collapse.get("max_share", MAX_SHARE)),
                           chance_margin=float(collapse.get("chance_margin", CHANCE_MARGIN)))
    if check.collapsed and where.endswith(".test"):  # the flag is about test predictions; train/val are for reading
        log.warning("%s: collapsed (%s)", where, check.reason)
    return [("collapsed", float(check.collapsed)), ("top_class_share", check.top_share)]


def tidy_metrics(metrics: Mapping[str, Any], source: str | Path,
                 collapse: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Rows of one metrics.json: every scalar of every (task, split; external sources' splits too), and per-class scores as
    ``{score}:{class}`` (e.g. ``f1:MEL``). Confusion matrices stay in metrics.json; with ``collapse``
    (report.collapse) each split's is read for ``collapsed`` and ``top_class_share`` (collapse_rows)."""
    run = run_of(metrics, source).as_dict()
    tasks = metrics.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise ResultsError(f"{source}: no 'tasks' block")
    rows = []
    for task, by_split in tasks.items():
        external = [s for s in by_split if s.startswith(EXTERNAL_PREFIX)]  # external test sources (evaluation.external)
        for split in ("train", "val", "test", *external):
            if split not in by_split:
                if split == "train":  # training scores are optional; val and test are the study
                    continue
                raise ResultsError(f"{source}: task {task!r} has no {split!r} split")
            for metric, value in by_split[split].items():
                where = f"{source}: tasks.{task}.{split}.{metric}"
                if metric == "confusion_matrix":
                    if collapse is not None:
                        rows += [(task, split, *row)
                                 for row in collapse_rows(value, f"{source}: tasks.{task}.{split}", collapse)]
                    continue
                if metric == "per_class":
                    for cls, scores in value.items():
                        for score, v in scores.items():
                            rows.append((task, split, f"{score}:{cls}", _number(v, f"{where}.{cls}.{score}")))
                else:
                    rows.append((task, split, metric, _number(value, where)))
    frame = pd.DataFrame(rows, columns=["task", "split", "metric", "value"])
    for key in reversed(RUN_KEYS):
        frame.insert(0, key, run[key])
    return frame


def collect_runs(run_dirs: Iterable[str | Path], collapse: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The tidy table of every run directory's metrics.json."""
    run_dirs = list(run_dirs)
    frames = [tidy_metrics(read_json(Path(d) / "metrics.json"), Path(d) / "metrics.json", collapse)
              for d in progress(run_dirs, desc="runs", unit="run")]
    if not frames:
        raise ResultsError("no run directories given: the matrix is empty")
    tidy = pd.concat(frames, ignore_index=True)[TIDY_COLUMNS]
    duplicated = tidy.duplicated(TIDY_COLUMNS[:-1])
    if duplicated.any():
        first = tidy[duplicated].iloc[0]
        raise ResultsError(f"two run directories describe the same run: {dict(first[RUN_KEYS])}")
    return tidy


def aggregate_runs(run_dirs: Iterable[str | Path], output: str | Path,
                   collapse: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Write ``results/tables/runs.tsv`` (with the collapse rows of ``collapse``, report.collapse)."""
    tidy = collect_runs(run_dirs, {} if collapse is None else collapse)
    write_tsv(tidy, output)
    n_runs = len(tidy.drop_duplicates(RUN_KEYS))
    log.info("aggregated %d runs into %d rows (%d tasks, %d metrics) -> %s", n_runs, len(tidy),
             tidy["task"].nunique(), tidy["metric"].nunique(), output)
    return tidy


def read_with_columns(path: str | Path, columns: list[str]) -> pd.DataFrame:
    """A results TSV (cells as strings), refused naming the file when it lacks one of ``columns``."""
    table = read_tsv(path)
    missing = set(columns) - set(table.columns)
    if missing:
        raise ResultsError(f"{path}: missing columns {sorted(missing)}")
    return table


def _read_tidy(path: str | Path, columns: list[str]) -> pd.DataFrame:
    return read_with_columns(path, columns).astype({"resolution": int, "seed": int, "value": float})


def read_runs(path: str | Path) -> pd.DataFrame:
    """runs.tsv with numeric resolution, seed and value."""
    return _read_tidy(path, TIDY_COLUMNS)


def tidy_ood_metrics(metrics_tsv: str | Path) -> pd.DataFrame:
    """Rows of one OOD metrics.tsv (``head, detector, params, split, metric, value``, test split),
    keyed by the run its directory names."""
    table = read_tsv(metrics_tsv)
    missing = {"head", "detector", "params", "metric", "value"} - set(table.columns)
    if missing:
        raise ResultsError(f"{metrics_tsv}: missing columns {sorted(missing)}")
    if "ood_level" not in table:  # metrics.tsv written before the OOD levels: pooled over every OOD image
        table["ood_level"] = "all"
    if table.duplicated(["head", "detector", "ood_level", "metric"]).any():
        raise ResultsError(f"{metrics_tsv}: a (head, detector, ood_level, metric) appears twice")
    unknown = set(table["metric"]) - set(OOD_METRICS)
    if unknown:
        raise ResultsError(f"{metrics_tsv}: unknown metrics {sorted(unknown)}; expected {list(OOD_METRICS)}")
    try:
        table["value"] = table["value"].astype(float)
    except ValueError as bad:
        raise ResultsError(f"{metrics_tsv}: {bad}") from None
    if "protocol" not in table:  # metrics.tsv written before the OOD protocol was recorded
        table["protocol"] = "unrecorded"
    run = run_from_dir(Path(metrics_tsv).parent)
    for key in reversed(RUN_KEYS):
        table.insert(0, key, getattr(run, key))
    return table[OOD_COLUMNS]


def run_from_dir(run_dir: str | Path) -> Run:
    """The run named by the last six levels of a results/{runs,ood}/... directory."""
    parts = Path(run_dir).parts[-6:]
    try:
        exp, loss, arch, crop, fset, seed = parts
        encoder, pooling, res = fset.rsplit("-", 2)
        if not (res.startswith("r") and seed.startswith("seed")):
            raise ValueError
        return Run(exp, loss, arch, crop, encoder, pooling, int(res[1:]), int(seed[4:]))
    except ValueError:
        raise ResultsError(f"{run_dir}: not a run directory (.../exp/loss/arch/crop/encoder-pooling-rRES/seedN)") from None


def aggregate_ood(ood_dirs: Iterable[str | Path], output: str | Path) -> pd.DataFrame:
    """Write ``results/tables/ood_runs.tsv``: every OOD metric of every run, head and detector."""
    ood_dirs = list(ood_dirs)
    if not ood_dirs:
        raise ResultsError("no OOD directories given: ood.architectures selects no run")
    tidy = pd.concat([tidy_ood_metrics(Path(d) / "metrics.tsv") for d in progress(ood_dirs, desc="ood runs", unit="run")],
                     ignore_index=True)
    write_tsv(tidy, output, header_comment=convention())
    log.info("aggregated %d OOD runs into %d rows (%d heads, %d detectors) -> %s", len(ood_dirs), len(tidy),
             tidy["head"].nunique(), tidy["detector"].nunique(), output)
    return tidy


def read_ood_runs(path: str | Path) -> pd.DataFrame:
    """ood_runs.tsv with numeric resolution, seed and value."""
    return _read_tidy(path, OOD_COLUMNS)
