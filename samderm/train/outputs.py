"""What a run leaves in its directory: predictions.tsv, metrics.json and the ISIC 2019
submission beside its ground truth; trained and ensemble runs share this."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd
from samderm.io import write_json, write_tsv
from samderm.metrics import classification_metrics, isic_tables, write_csv
from samderm.train.data import SPLITS, RunData

if TYPE_CHECKING:  # torch is imported by the callers that train; ensembles and probes need none of it
    from samderm.heads import HeadModel

log = logging.getLogger(__name__)
KEY_COLUMNS = ["image_id", "split", "task", "label"]
HISTORY_COLUMNS = ["epoch", "task", "train_loss", "val_macro_f1", "selected"]  # history.tsv (header only: no epochs)


def probability_columns(tasks: Mapping[str, list[str]]) -> list[str]:
    return [f"p_{c}" for classes in tasks.values() for c in classes]


def prediction_table(model: HeadModel, data: RunData) -> pd.DataFrame:
    """One row per (original image, task it has a label for), every split."""
    import torch

    rows = np.flatnonzero(data.original)
    probabilities = model.predict_proba(torch.from_numpy(data.features[rows]))
    return probability_table(data, rows, {t: p.numpy() for t, p in probabilities.items()})


def probability_table(data: RunData, rows: np.ndarray, probabilities: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """prediction_table from ``probabilities`` (task -> (len(rows), classes)) of the original views ``rows``."""
    parts = []
    for j, (task, classes) in enumerate(data.tasks.items()):
        labelled = data.labels[rows, j] >= 0
        p = probabilities[task][labelled]
        part = pd.DataFrame({"image_id": data.image_ids[rows][labelled], "split": data.split[rows][labelled], "task": task,
                             "label": np.asarray(classes)[data.labels[rows, j][labelled]]})
        parts.append(pd.concat([part, pd.DataFrame(p, columns=[f"p_{c}" for c in classes])], axis=1))
    return finish_predictions(pd.concat(parts, ignore_index=True), data.tasks)


def finish_predictions(table: pd.DataFrame, tasks: Mapping[str, list[str]]) -> pd.DataFrame:
    """Add ``predicted`` (argmax of the task's probabilities) and order the columns."""
    table = table.reindex(columns=KEY_COLUMNS + ["predicted"] + probability_columns(tasks))
    table["predicted"] = ""
    for task, classes in tasks.items():
        mine = (table["task"] == task).to_numpy()
        if mine.any():
            p = table.loc[mine, [f"p_{c}" for c in classes]].to_numpy(dtype=float)
            table.loc[mine, "predicted"] = np.asarray(classes)[p.argmax(axis=1)]
    return table


def evaluate(predictions: pd.DataFrame, tasks: Mapping[str, list[str]]) -> dict[str, Any]:
    """The ``tasks`` block of metrics.json: per task its classes and metrics per split (train, val, test, then
    each external source's ``external:{name}`` in order of appearance)."""
    result: dict[str, Any] = {}
    external = [s for s in dict.fromkeys(predictions["split"]) if s not in SPLITS]
    for task, classes in tasks.items():
        index = {c: i for i, c in enumerate(classes)}
        result[task] = {"classes": list(classes)}
        for split in [*SPLITS, *external]:
            rows = predictions[(predictions["task"] == task) & (predictions["split"] == split)]
            result[task][split] = classification_metrics(rows["label"].map(index), rows["predicted"].map(index), classes)
    return result


def write_run_outputs(out_dir: str | Path, run: Mapping[str, Any], predictions: pd.DataFrame,
                      tasks: Mapping[str, list[str]], extra: Mapping[str, Any] | None = None,
                      unk_column: bool = False) -> dict[str, Any]:
    """predictions.tsv, metrics.json, and the lesion test split as ISIC 2019 submission and ground
    truth (``unk_column``: with the UNK column of the official 2019 test format)."""
    out = Path(out_dir)
    write_tsv(predictions, out / "predictions.tsv")
    metrics = {"run": dict(run), **(extra or {}), "tasks": evaluate(predictions, tasks)}
    write_json(metrics, out / "metrics.json")
    test = predictions[(predictions["task"] == "lesion") & (predictions["split"] == "test")]
    classes = tasks["lesion"]
    submission, truth = isic_tables(test["image_id"], test["label"].map({c: i for i, c in enumerate(classes)}),
                                    test[[f"p_{c}" for c in classes]].to_numpy(dtype=float), classes, unk_column)
    write_csv(submission, out / "isic_submission.csv")
    write_csv(truth, out / "isic_ground_truth.csv")
    for task, splits in metrics["tasks"].items():
        log.info("%s: %s", task, ", ".join(f"{s} n={m['n']} macro-F1={m.get('macro_f1', float('nan')):.4f}"
                                            for s, m in splits.items() if s != "classes"))
    log.info("wrote %d prediction rows and %d ISIC test rows to %s", len(predictions), len(submission), out)
    return metrics


def unk_column(params: Mapping[str, Any]) -> bool:
    """isic_submission.unk_column of a run's params: the official 2019 test format's UNK column."""
    return bool(params.get("isic_submission", {}).get("unk_column", False))
