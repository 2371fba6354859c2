"""Training of a HeadModel: AdamW, per-task losses on the rows each task has labels for,
optional Balanced MixUp, early stopping on validation macro-F1 keeping the best state."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from samderm.heads import HeadModel
from samderm.logs import progress
from samderm.losses import build_loss, cosine_scale, mixup_alpha
from samderm.losses.balanced_mixup import mix_features, mix_targets, mixup_lambda
from samderm.metrics.bootstrap import macro_f1 as confusion_macro_f1
from samderm.seeding import seed_everything
from samderm.train.adamw import FlatAdamW
from samderm.train.data import RunData
from samderm.train.sampling import balanced_draw, balanced_weights, epoch_order, strata
from samderm.train.outputs import HISTORY_COLUMNS
from samderm.train.tasks import NO_LABEL

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is 'cuda' but no CUDA device is visible")
    return torch.device(device)


@dataclass
class Settings:
    """The experiment entry of the config (experiments.<name>)."""
    epochs: int = 60
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    patience: int = 15
    sampler: str = "instance"

    @classmethod
    def from_config(cls, experiment: Mapping[str, Any]) -> "Settings":
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in experiment.items() if k in fields})


@dataclass
class GroupRows:
    """A group's training rows: raw (``x``) and standardised (``z``) features, labels (``y``,
    one column per task) and per task one-hot rows."""
    x: torch.Tensor
    z: torch.Tensor
    y: torch.Tensor
    one_hot: list[torch.Tensor]


def build_model(data: RunData, architecture: Mapping[str, Any], loss_cfg: Mapping[str, Any]) -> HeadModel:
    model = HeadModel(architecture["type"], data.tasks, data.features.shape[1], hidden=architecture.get("hidden", [256]),
                      dropout=architecture.get("dropout", 0.2), cosine_scale=cosine_scale(loss_cfg))
    train = torch.from_numpy(data.features[data.rows("train")])
    mean = train.mean(dim=0)
    # the unbiased std in two passes: torch's std(dim=0) reduces across rows 4x slower
    model.set_standardisation(mean, ((train - mean).square_().sum(dim=0) / (len(train) - 1)).sqrt_())
    return model


def train_heads(data: RunData, architecture: Mapping[str, Any], loss_cfg: Mapping[str, Any],
                experiment: Mapping[str, Any], seed: int, device: str = "cpu") -> tuple[HeadModel, pd.DataFrame]:
    """Seed, build and train; parallel trains each task's MLP alone, multihead all tasks
    together. Returns the model (best validation state) on the CPU and the history."""
    generator = seed_everything(seed)
    model = build_model(data, architecture, loss_cfg)
    groups = [[t] for t in data.tasks] if model.arch == "parallel" else [list(data.tasks)]
    settings = Settings.from_config(experiment)
    history = [_fit_group(model, data, group, loss_cfg, settings, generator, resolve_device(device)) for group in groups]
    return model.cpu().eval(), pd.concat(history, ignore_index=True)


def _fit_group(model: HeadModel, data: RunData, group: list[str], loss_cfg: Mapping[str, Any], settings: Settings,
               generator: torch.Generator, device: torch.device) -> pd.DataFrame:
    started = time.perf_counter()
    columns = [list(data.tasks).index(t) for t in group]
    train_rows = np.flatnonzero((data.split == "train") & (data.labels[:, columns] != NO_LABEL).any(axis=1))
    x = torch.from_numpy(data.features[train_rows]).to(device)
    y = torch.from_numpy(data.labels[train_rows][:, columns]).to(device)
    weights = balanced_weights(strata(y.cpu()))
    losses = {}
    for j, task in enumerate(group):
        counts = np.bincount(y[:, j][y[:, j] >= 0].cpu().numpy(), minlength=len(data.tasks[task]))
        log.info("task %s: train class counts %s", task, dict(zip(data.tasks[task], counts.tolist())))
        losses[task] = build_loss(loss_cfg, counts.tolist(), task).to(device)
    val = {t: data.rows("val", t) for t in group}
    for task, rows in val.items():
        if len(rows) == 0:
            raise ValueError(f"task {task}: no validation rows, early stopping needs them")
    val_y = {t: data.labels[r, list(data.tasks).index(t)] for t, r in val.items()}
    module = model.task_module(group[0])
    module.to(device)
    model.to(device)
    # standardised once instead of per batch and epoch (the same values the model's forward computes);
    # every loss takes one-hot rows as it takes class indices (as_soft_targets): built once, not per
    # batch, for the losses that do not prefer the indices themselves
    with torch.no_grad():
        train_set = GroupRows(x, model.standardise(x), y, [
            torch.nn.functional.one_hot(y[:, j].clamp(min=0), len(data.tasks[t])).to(torch.float32)
            for j, t in enumerate(group)])
        val_z = {t: model.standardise(torch.from_numpy(data.features[r]).to(device)) for t, r in val.items()}
    optimizer = FlatAdamW(module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    alpha = mixup_alpha(loss_cfg)
    drw_epoch = deferred_reweighting_epoch(losses.values())
    best, best_state, best_epoch, waited, rows = -1.0, None, -1, 0, []
    for epoch in progress(range(settings.epochs), desc=f"train {'+'.join(group)}", unit="epoch"):
        for loss in losses.values():
            loss.start_epoch(epoch)
        if epoch == drw_epoch:
            best, waited = -1.0, 0  # DRW's re-weighted second stage is the model (Cao et al.): select within it
        totals = _train_epoch(model, train_set, group, losses, optimizer, settings, weights, alpha, generator)
        scores = _val_scores(model, val_z, val_y)
        rows += [{"epoch": epoch, "task": t, "train_loss": totals[t], "val_macro_f1": scores[t]} for t in group]
        score = float(np.mean(list(scores.values())))
        if score > best:
            best, best_epoch, waited = score, epoch, 0
            best_state = {k: v.clone() for k, v in module.state_dict().items()}
        else:
            waited += 1
            # early stopping never cuts off DRW before its second stage
            if waited >= settings.patience and (drw_epoch is None or epoch >= drw_epoch):
                break
    module.load_state_dict(best_state)
    optimizer.release()
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    history["selected"] = (history["epoch"] == best_epoch).astype(int)
    log.info("%s: %d epochs on %d train rows in %.1fs; best val macro-F1 %.4f at epoch %d",
             "+".join(group), epoch + 1, len(train_rows), time.perf_counter() - started, best, best_epoch)
    return history


def deferred_reweighting_epoch(losses) -> int | None:
    """The epoch a DRW schedule (ldam_drw) switches its class weights on, or None."""
    epochs = [loss.drw_epoch for loss in losses if getattr(loss, "drw_epoch", None) is not None]
    return max(epochs, default=None)


def _val_scores(model: HeadModel, val_z: dict[str, torch.Tensor], val_y: dict[str, np.ndarray]) -> dict[str, float]:
    """Validation macro-F1 per task (dropout off) on the standardised validation rows."""
    model.eval()
    with torch.inference_mode():
        scores = {t: label_macro_f1(val_y[t], model.logits(z, tasks=[t])[t].argmax(dim=1).cpu().numpy(),
                                    len(model.tasks[t])) for t, z in val_z.items()}
    model.train()
    return scores


def label_macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """scikit-learn's macro-F1 (classes present in truth or prediction) from one bincount:
    f1_score's input checks cost more than the validation forward pass, every epoch."""
    confusion = np.bincount(np.asarray(y_true) * n_classes + np.asarray(y_pred), minlength=n_classes * n_classes)
    return float(confusion_macro_f1(confusion.reshape(1, n_classes, n_classes))[0])


def batch_loss(model: HeadModel, xb: torch.Tensor, targets: list[tuple[torch.Tensor, torch.Tensor | None]],
               group: list[str], losses: dict) -> tuple[torch.Tensor | None, dict[str, tuple[torch.Tensor, int]]]:
    """Sum over tasks of each task's loss, a mean over only the rows labelled for that task
    (``targets``: per task (target of the valid rows, valid mask, or None when every row is
    valid)); so a row without a label for a task sends no gradient into that task's head.
    None when no row has any label. ``parts``: per task (its loss, 0-d tensor; rows)."""
    return task_losses(model(xb, tasks=group), targets, group, losses)


def task_losses(logits: dict[str, torch.Tensor], targets: list[tuple[torch.Tensor, torch.Tensor | None]],
                group: list[str], losses: dict) -> tuple[torch.Tensor | None, dict[str, tuple[torch.Tensor, int]]]:
    """batch_loss on the logits of a batch."""
    total, parts = None, {}
    for t, (target, valid) in zip(group, targets):
        n = len(target) if valid is None else int(valid.sum())
        if n == 0:
            continue
        loss = losses[t](logits[t] if valid is None else logits[t][valid], target)
        total = loss if total is None else total + loss
        parts[t] = (loss, n)
    return total, parts


def _train_epoch(model: HeadModel, train_set: GroupRows, group: list[str], losses: dict, optimizer: FlatAdamW,
                 settings: Settings, weights: torch.Tensor, alpha: float | None, generator: torch.Generator) -> dict[str, float]:
    """One pass over the group's training rows; returns the mean loss per task."""
    x, y = train_set.x, train_set.y
    order = epoch_order(len(x), settings.sampler, weights, generator).to(x.device)
    # a single task trained on its own rows: every row is labelled, so no mask to build and apply
    all_labelled = len(group) == 1 and alpha is None and bool((y >= 0).all())
    values, counts = {t: [] for t in group}, {t: [] for t in group}
    for start in range(0, len(order), settings.batch_size):
        # index_select of the batch's rows: a few KB, where x[batch] costs 4x as much
        batch = order[start:start + settings.batch_size]
        if alpha is not None:
            yb = y.index_select(0, batch)
            partner = balanced_draw(weights, len(batch), generator).to(x.device)
            lam = mixup_lambda(alpha, generator)
            # mixed as raw features, then standardised: the model's forward on the mixed batch
            zb = model.standardise(mix_features(x.index_select(0, batch), x[partner], lam))
            targets = [mix_targets(yb[:, j], y[partner, j], losses[t].n_classes, lam) for j, t in enumerate(group)]
        else:
            zb, yb = train_set.z.index_select(0, batch), y.index_select(0, batch)
            valid = None if all_labelled else yb >= 0
            targets = []
            for j, t in enumerate(group):
                target = yb[:, j] if losses[t].prefers_class_indices else train_set.one_hot[j].index_select(0, batch)
                targets.append((target, None) if valid is None else (target[valid[:, j]], valid[:, j]))
        total, parts = task_losses(model.logits(zb, tasks=group), targets, group, losses)
        if total is None:
            continue
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        for t, (value, n) in parts.items():
            values[t].append(value.detach())
            counts[t].append(n)
    # summed in float64 once per epoch: one sync per epoch, not per batch
    return {t: float((torch.stack(values[t]).double().cpu() * torch.tensor(counts[t], dtype=torch.float64)).sum())
            / sum(counts[t]) if counts[t] else float("nan") for t in group}
