"""Every run's test predictions in PanDerm's per-image schema (samderm.score.exchange), one CSV per run
and task below results/exchange/, so other groups can score our models with their own tools."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from samderm.logs import progress
from samderm.report.aggregate import read_with_columns, run_from_dir
from samderm.report.predictions import PREDICTION_KEYS
from samderm.score.exchange import exchange_table

log = logging.getLogger(__name__)


def export_predictions(prediction_files: Iterable[str | Path], out_dir: str | Path) -> int:
    """Write ``{out_dir}/{run path}/{task}.csv`` (test split, labels as indices into the task's classes,
    listed in ``classes.txt`` beside them) for each run's predictions.tsv; returns the files written."""
    written = 0
    for path in progress(list(prediction_files), desc="export", unit="run"):
        run = run_from_dir(Path(path).parent)
        target = Path(out_dir) / run.path
        target.mkdir(parents=True, exist_ok=True)
        table = read_with_columns(path, PREDICTION_KEYS)
        for task, rows in table[table["split"] == "test"].groupby("task", sort=False):
            classes = [c[2:] for c in rows.columns if c.startswith("p_") and (rows[c] != "").all()]
            exchange_table(rows, classes).to_csv(target / f"{task}.csv", index=False)
            (target / f"{task}.classes.txt").write_text("\n".join(classes) + "\n")
            written += 1
    log.info("wrote %d prediction files (test split, PanDerm's schema) to %s", written, out_dir)
    return written

