"""Operating points of the study's best models: p(malignant) of the malignancy task and p(MEL) of the lesion
task one-vs-rest, each threshold chosen on val and applied unchanged to test (``samderm.metrics.operating_points``)
with percentile intervals over resampled lesion groups of the test images; the one-vs-rest AUROC of every class
of every task; and the test ROC curves with the val-chosen operating points marked.

The models are the best configuration per task and the best per (task, encoder), both chosen on val by
``report.selection_metric`` (``select_best``, as the best-models table: held-out-class experiments are no
candidates on the lesion task). A threshold belongs to one trained model, so each configuration is read at
its first (lowest) seed only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from sklearn.metrics import roc_curve

from samderm.io import read_tsv
from samderm.metrics.bootstrap import binary_auroc, full_sample, group_weights
from samderm.metrics.operating_points import (SENSITIVITIES, SPECIFICITIES, class_score, one_vs_rest_auroc,
                                              operating_points)
from samderm.report.aggregate import CONFIG_KEYS, ResultsError, read_runs
from samderm.report.intervals import config_of
from samderm.report.predictions import TaskPredictions, image_groups, read_predictions
from samderm.report.selection import open_set_rows, select_best
from samderm.report.style import colour, new_figure, save_figure, styled
from samderm.report.summaries import TASK_ORDER
from samderm.report.tables import write_table

log = logging.getLogger(__name__)

TARGETS = {"malignancy": "malignant", "lesion": "MEL"}  # task -> its positive class (one-vs-rest)
SCOPES = {"best per task": ["task"], "best per encoder": ["task", "encoder"]}  # scope -> select_best's groups
MODEL_KEYS = ["scope", "task", *CONFIG_KEYS, "seed", "n_seeds"]
# the figure's markers, in the order operating_points() returns its rows
POINT_LABELS = [f"spec≥{s:.2f} on val" for s in SPECIFICITIES] + [f"sens≥{s:.2f} on val" for s in SENSITIVITIES]
MARKERS = ("o", "s", "D", "^", "v", "P")


@dataclass(frozen=True)
class ChosenModel:
    """One chosen configuration (its table keys) and the predictions of its first seed on one task."""
    keys: dict
    path: Path
    val: TaskPredictions
    test: TaskPredictions


def chosen_configurations(tidy: pd.DataFrame, metric: str, held_out_experiments: Collection[str] = ()
                          ) -> pd.DataFrame:
    """One row per (scope, task[, encoder]): the configuration chosen on val (never on test); on the lesion
    task the ``held_out_experiments`` are left out, as in the best-models table."""
    candidates = tidy[~open_set_rows(tidy, held_out_experiments)]
    frames = [select_best(candidates, metric, group_by).assign(scope=scope) for scope, group_by in SCOPES.items()]
    table = pd.concat(frames, ignore_index=True)
    rank = {t: i for i, t in enumerate(TASK_ORDER)}
    table = table.sort_values(["task"], key=lambda c: c.map(rank).fillna(len(rank)), kind="stable")
    table = table.sort_values(["scope"], key=lambda c: c.map(list(SCOPES).index), kind="stable")
    return table[["scope", "task", *CONFIG_KEYS, f"val_{metric}"]].reset_index(drop=True)


def _seed_dirs(run_dirs: Iterable[str | Path]) -> dict[tuple, list[tuple[int, Path]]]:
    """configuration -> [(seed, run directory)] sorted by seed."""
    by_config: dict[tuple, list[tuple[int, Path]]] = {}
    for run_dir in run_dirs:
        config = config_of(run_dir)
        by_config.setdefault(config, []).append((int(Path(run_dir).name.removeprefix("seed")), Path(run_dir)))
    return {config: sorted(dirs) for config, dirs in by_config.items()}


def _task_predictions(path: Path, task: str) -> tuple[TaskPredictions, TaskPredictions]:
    predictions = read_predictions(path, ["val", "test"])
    for split in ("val", "test"):
        if (task, split) not in predictions:
            raise ResultsError(f"{path}: no {split} rows of task {task!r}")
    val, test = predictions[(task, "val")], predictions[(task, "test")]
    if val.classes != test.classes:
        raise ResultsError(f"{path}: task {task!r} has the classes {val.classes} on val but {test.classes} on test")
    return val, test


def chosen_models(runs_tsv: str | Path, run_dirs: Iterable[str | Path], metric: str,
                  held_out_experiments: Collection[str] = (), tasks: Collection[str] | None = None
                  ) -> list[ChosenModel]:
    """The chosen configurations (of ``tasks``, all when None) with their first seed's val and test predictions."""
    configurations = chosen_configurations(read_runs(runs_tsv), metric, held_out_experiments)
    seeds = _seed_dirs(run_dirs)
    models = []
    for row in configurations.to_dict("records"):
        if tasks is not None and row["task"] not in tasks:
            continue
        config = tuple(row[k] for k in CONFIG_KEYS)
        if config not in seeds:
            raise ResultsError(f"{runs_tsv}: the configuration chosen on val ({row['scope']}, task {row['task']}: "
                               f"{dict(zip(CONFIG_KEYS, config))}) has no predictions.tsv among the inputs")
        seed, run_dir = seeds[config][0]
        path = run_dir / "predictions.tsv"
        val, test = _task_predictions(path, row["task"])
        keys = {**{k: row[k] for k in MODEL_KEYS[:-2]}, "seed": seed, "n_seeds": len(seeds[config]),
                f"val_{metric}": row[f"val_{metric}"]}
        models.append(ChosenModel(keys, path, val, test))
    return models


def _binary(model: ChosenModel, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(val positive, val score, test positive, test score) of ``target`` one-vs-rest."""
    val = class_score(model.val.labels, model.val.probabilities, model.val.classes, target)
    test = class_score(model.test.labels, model.test.probabilities, model.test.classes, target)
    return (*val, *test)


def _operating_points(model: ChosenModel, target: str, weights: np.ndarray, groups, level: float) -> pd.DataFrame:
    try:
        return operating_points(*_binary(model, target), weights, groups, target=target, level=level)
    except ValueError as bad:  # e.g. no positives on val: name the file the scores came from
        raise ResultsError(f"{model.path}: task {model.keys['task']!r}, {target} one-vs-rest: {bad}") from None


def _target(model: ChosenModel) -> str | None:
    """The model's positive class, or None (logged) when its task has none or lacks it (e.g. MEL held out)."""
    target = TARGETS.get(model.keys["task"])
    if target is not None and target not in model.val.classes:
        log.info("operating points: %s has no class %s on task %s (held out?), skipped", model.path, target,
                 model.keys["task"])
        return None
    return target


def operating_point_tables(models: Iterable[ChosenModel], manifest_tsv: str | Path, bootstrap: Mapping
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(operating points, class AUROC): one row per (model, operating point) and per (model, class), with
    the model's keys in front; intervals over ``bootstrap['resamples']`` resamples of test lesion groups."""
    models = list(models)
    if not models:
        raise ResultsError("operating points: no chosen model")
    manifest = read_tsv(manifest_tsv)
    weights_of: dict[tuple, np.ndarray] = {}  # the resamples depend only on the test groups and the seed
    points, aurocs = [], []
    for model in models:
        groups = image_groups(manifest, model.test.image_ids, str(manifest_tsv))
        key = tuple(groups)
        if key not in weights_of:
            weights_of[key] = group_weights(groups, bootstrap["resamples"], bootstrap["seed"])
        weights = weights_of[key]
        try:
            auroc = one_vs_rest_auroc(model.test.labels, model.test.probabilities, model.test.classes, weights, groups,
                                      level=bootstrap["level"])
        except ValueError as bad:
            raise ResultsError(f"{model.path}: task {model.keys['task']!r}: {bad}") from None
        aurocs.append(auroc.assign(**model.keys))
        target = _target(model)
        if target is not None:
            points.append(_operating_points(model, target, weights, groups, bootstrap["level"]).assign(**model.keys))
    key_columns = list(models[0].keys)
    auroc_table = pd.concat(aurocs, ignore_index=True)
    auroc_table = auroc_table[key_columns + [c for c in auroc_table.columns if c not in key_columns]]
    if points:
        point_table = pd.concat(points, ignore_index=True)
        point_table = point_table[key_columns + [c for c in point_table.columns if c not in key_columns]]
    else:
        log.warning("operating points: no chosen model has a malignancy or MEL score")
        point_table = pd.DataFrame(columns=key_columns)
    return point_table, auroc_table


def _note(bootstrap: Mapping, metric: str) -> str:
    return (f"Models: the best configuration per task and the best per (task, encoder), chosen on the validation "
            f"split by mean {metric} over seeds (held-out-class experiments are no candidates on the lesion task), "
            "each read at its first seed only (seed; n_seeds = the configuration's seeds). Intervals: the "
            f"{bootstrap['level']:.0%} percentile interval over {bootstrap['resamples']} resamples of the lesion "
            f"groups of the test images (seed {bootstrap['seed']}); val is never resampled.")


def tabulate_operating_points(runs_tsv: str | Path, run_dirs: Iterable[str | Path], manifest_tsv: str | Path,
                              points_stem: str | Path, auroc_stem: str | Path, report: Mapping,
                              held_out_experiments: Collection[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write the operating-point and class-AUROC tables (csv/md/tex/html) of the chosen models."""
    metric, bootstrap = report["selection_metric"], report["bootstrap"]
    models = chosen_models(runs_tsv, run_dirs, metric, held_out_experiments)
    points, aurocs = operating_point_tables(models, manifest_tsv, bootstrap)
    note = _note(bootstrap, metric)
    write_table(points, points_stem, "Operating points: thresholds chosen on val, applied to test",
                "target = the positive class one-vs-rest (p(malignant) of the malignancy task, p(MEL) of the lesion "
                "task). An image is positive when its score >= threshold. sensitivity@specificity{s}: the smallest "
                "threshold whose val specificity is >= s; specificity@sensitivity{s}: the largest whose val "
                "sensitivity is >= s (threshold inf = every image negative). The threshold is fixed on val and "
                "applied unchanged to test; val_sensitivity/val_specificity are its rates on val, the test rates "
                f"carry intervals. {note}")
    write_table(aurocs, auroc_stem, "One-vs-rest AUROC per class on test",
                "The AUROC of each class's probability against all other classes on the test images (ties count one "
                f"half; empty without test positives). {note}")
    log.info("operating points: %d models, %d operating points, %d class AUROCs -> %s, %s", len(models), len(points),
             len(aurocs), points_stem, auroc_stem)
    return points, aurocs


@styled
def roc_operating_points_figure(runs_tsv: str | Path, run_dirs: Iterable[str | Path], metric: str, png: str | Path,
                                svg: str | Path, held_out_experiments: Collection[str] = ()) -> None:
    """Test ROC curves of p(malignant) and p(MEL), one panel per target and one line per encoder's best model
    (chosen on val), with the val-chosen operating points marked where they fall on test."""
    models = [m for m in chosen_models(runs_tsv, run_dirs, metric, held_out_experiments, tasks=TARGETS)
              if m.keys["scope"] == "best per encoder"]
    panels = [(task, target, [m for m in models if m.keys["task"] == task and _target(m)])
              for task, target in TARGETS.items()]
    panels = [panel for panel in panels if panel[2]]
    if not panels:
        raise ResultsError(f"{runs_tsv}: no chosen malignancy or lesion model with a malignant or MEL score")
    fig, axes = new_figure(1, len(panels), width=5.2, height=5.0)
    for ax, (task, target, chosen) in zip(axes[0], panels):
        for i, model in enumerate(chosen):
            val_positive, val_score, test_positive, test_score = _binary(model, target)
            fpr, tpr, _ = roc_curve(test_positive, test_score)
            (auc,) = binary_auroc(full_sample(len(test_score)), test_positive, test_score)
            k = model.keys
            ax.plot(fpr, tpr, color=colour(i), linewidth=1.6,
                    label=f"{k['encoder']}: {k['experiment']}/{k['loss']}/{k['architecture']}/{k['crop']}/"
                          f"{k['pooling']}-r{k['resolution']} seed {k['seed']}, AUROC {auc:.3f}")
            # no resampling here: the groups only have to pair with the images (one per image)
            points = _operating_points(model, target, full_sample(len(test_score)), model.test.image_ids, 0.95)
            for j, point in enumerate(points.itertuples()):
                ax.plot(1 - point.test_specificity_value, point.test_sensitivity_value, marker=MARKERS[j % len(MARKERS)],
                        color=colour(i), markeredgecolor="black", markersize=7, linestyle="none")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
        handles, _ = ax.get_legend_handles_labels()
        handles += [Line2D([], [], marker=MARKERS[j % len(MARKERS)], color="grey", markeredgecolor="black",
                           linestyle="none", label=label) for j, label in enumerate(POINT_LABELS)]
        ax.legend(handles=handles, loc="lower right", fontsize=7)
        ax.set(xlim=(-0.01, 1.01), ylim=(0, 1.02), xlabel="1 - specificity (test)", ylabel="sensitivity (test)",
               title=f"{target} vs rest ({task} task)")
    fig.suptitle("Test ROC of the best model per encoder (chosen on val); markers: thresholds chosen on val",
                 fontsize=10)
    save_figure(fig, png, svg)
    log.info("ROC with operating points: %s", ", ".join(f"{target}: {len(chosen)} models" for _, target, chosen in panels))
