"""Training of the heads: data of a run, sampling, the training loop, outputs, ensembles."""

from samderm.train.data import RunData, build_run_data
from samderm.train.ensemble import average_predictions
from samderm.train.fit import train_heads
from samderm.train.outputs import evaluate, prediction_table, write_run_outputs
from samderm.train.run import ensemble_run, probe_run, train_run
from samderm.train.tasks import task_classes

__all__ = ["RunData", "average_predictions", "build_run_data", "ensemble_run", "evaluate", "prediction_table", "probe_run",
           "task_classes", "train_heads", "train_run", "write_run_outputs"]
