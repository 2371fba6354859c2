"""Reliability diagrams of the best model of each task (chosen on val): test accuracy against
top-label confidence per equal-width bin, before and after temperature scaling, seeds pooled; a seed
whose temperature val could not identify is scaled by T = 1 and its reason is in the panel title."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from samderm.metrics.calibration import FITTED, expected_calibration_error, reliability_bins, scaled_probabilities
from samderm.matrix import Run
from samderm.report.aggregate import CONFIG_KEYS, RUN_KEYS, ResultsError, read_runs, run_from_dir
from samderm.report.calibration import read_calibration
from samderm.report.predictions import read_predictions
from samderm.report.selection import select_best
from samderm.report.summaries import TASK_ORDER
from samderm.report.style import colour, new_figure, save_figure, styled

log = logging.getLogger(__name__)


def pooled_test_predictions(run_dirs: Sequence[str | Path], task: str, temperatures: dict[str, float]):
    """Test probabilities and labels of ``task`` over the given runs (seeds), raw and temperature-scaled."""
    raw, scaled, labels = [], [], []
    for run_dir in run_dirs:
        part = read_predictions(Path(run_dir) / "predictions.tsv", ["test"])[(task, "test")]
        raw.append(part.probabilities)
        scaled.append(scaled_probabilities(part.probabilities, temperatures[str(run_dir)]))
        labels.append(part.labels)
    return np.concatenate(raw), np.concatenate(scaled), np.concatenate(labels)


@styled
def reliability_figure(runs_tsv: str | Path, calibration_tsv: str | Path, run_dirs: Sequence[str | Path],
                       metric: str, n_bins: int, png: str | Path, svg: str | Path) -> None:
    tidy = read_runs(runs_tsv)
    calibration = read_calibration(calibration_tsv)
    best = select_best(tidy, metric, ["task"])
    tasks = sorted(best["task"], key=lambda t: TASK_ORDER.index(t) if t in TASK_ORDER else len(TASK_ORDER))
    fig, axes = new_figure(ncols=len(tasks), width=4.2, height=4.4)
    for ax, task in zip(axes[0], tasks):
        config = best[best["task"] == task].iloc[0][CONFIG_KEYS].to_dict()
        chosen = [str(d) for d in run_dirs
                  if {**run_from_dir(d).as_dict(), "seed": None} == {**config, "seed": None}]
        if not chosen:
            raise ResultsError(f"no predictions of the chosen {task} configuration {config}")
        rows = calibration[(calibration["task"] == task) & (calibration["split"] == "test")]
        by_run = {Run(**{k: row[k] for k in RUN_KEYS}).path: (row["temperature"], row["temperature_status"])
                  for _, row in rows.iterrows()}
        missing = [d for d in chosen if run_from_dir(d).path not in by_run]
        if missing:
            raise ResultsError(f"{calibration_tsv}: no {task} temperature of {missing[0]}")
        temperatures = {d: float(by_run[run_from_dir(d).path][0]) for d in chosen}
        statuses = [by_run[run_from_dir(d).path][1] for d in chosen]
        raw, scaled, labels = pooled_test_predictions(chosen, task, temperatures)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
        for i, (name, probabilities) in enumerate((("before", raw), ("after T", scaled))):
            bins = reliability_bins(probabilities, labels, n_bins, "width")
            filled = bins.count > 0
            ece = expected_calibration_error(probabilities, labels, n_bins, "width")
            ax.plot(bins.confidence[filled], bins.accuracy[filled], marker="os"[i], color=colour(i),
                    linestyle="-" if i == 0 else "--", clip_on=False, label=f"{name} (ECE {ece:.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("confidence (top-label probability)")
        ax.set_ylabel("accuracy")
        t_text = ", ".join(f"{t:.2f}" + ("" if s == FITTED else f" ({s})") for t, s in zip(temperatures.values(), statuses))
        ax.set_title(f"{task}: {config['experiment']} / {config['loss']} / {config['architecture']} / "
                     f"{config['crop']}\nT = {t_text}; {len(labels)} test predictions", fontsize=9)
        ax.legend(fontsize=8, loc="upper left")
    save_figure(fig, png, svg)
    log.info("reliability diagrams of %d tasks (%d equal-width bins)", len(tasks), n_bins)
