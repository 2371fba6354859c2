"""Training of the heads: data of a run, sampling, the training loop, outputs, ensembles, probes.

Names load on first use: an ensemble job averages predictions and needs neither torch nor the
training loop, whose imports cost it a third of its time."""

from importlib import import_module

_WHERE = {"RunData": "data", "build_run_data": "data", "average_predictions": "ensemble", "ensemble_run": "ensemble",
          "train_heads": "fit", "evaluate": "outputs", "prediction_table": "outputs", "write_run_outputs": "outputs",
          "probe_run": "run", "train_run": "run", "task_classes": "tasks"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"samderm.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'samderm.train' has no attribute {name!r}")


__all__ = sorted(_WHERE)
