"""The linear probe with its inverse regularisation C tuned on val (protocol ``tuned``).

scikit-learn's ``LogisticRegression`` (lbfgs, multinomial, L2 on the weights) behind a
``StandardScaler`` (train statistics) in a ``Pipeline``, one fit on train per C of the grid;
the C with the best val score is kept as fitted on train (no refit on train + val). Ties go
to the smallest C, the strongest regularisation, whatever the order of the grid."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from samderm.heads.probes.base import Probe, features
from samderm.metrics.classification import macro_f1

DEFAULT_C_GRID = tuple(float(c) for c in np.logspace(-4, 4, 10))
SELECTION_METRICS = {"macro_f1": macro_f1, "balanced_accuracy": lambda y, p: float(balanced_accuracy_score(y, p))}
CLASS_WEIGHTS = (None, "balanced")


class TunedLinearProbe(Probe):
    def __init__(self, n_classes: int, c_grid=DEFAULT_C_GRID, selection_metric: str = "macro_f1",
                 class_weight: str | None = None, max_iter: int = 1000, random_state: int = 0):
        super().__init__(n_classes)
        if len(c_grid) == 0 or min(c_grid) <= 0:
            raise ValueError(f"c_grid must hold positive values, got {list(c_grid)}")
        if selection_metric not in SELECTION_METRICS:
            raise ValueError(f"unknown selection_metric '{selection_metric}' (expected one of {', '.join(SELECTION_METRICS)})")
        if class_weight not in CLASS_WEIGHTS:
            raise ValueError(f"class_weight must be null or 'balanced', got {class_weight!r}")
        self.c_grid = c_grid
        self.selection_metric = selection_metric
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, x_train, y_train, x_val=None, y_val=None) -> "TunedLinearProbe":
        if x_val is None or y_val is None:
            raise ValueError("the tuned linear probe chooses C on val: x_val and y_val are needed")
        x, y = features(x_train), self.check_labels(y_train)
        x_val, y_val = features(x_val), self.check_labels(y_val, "y_val")
        score = SELECTION_METRICS[self.selection_metric]
        self.val_scores_ = {}
        best = None
        for C in sorted(float(c) for c in self.c_grid):
            model = self._pipeline(C).fit(x, y)
            self.val_scores_[C] = score(y_val, model.predict(x_val))
            if best is None or self.val_scores_[C] > self.val_scores_[best[0]]:
                best = (C, model)
        self.C_, self.model_ = best
        return self

    def _pipeline(self, C: float) -> Pipeline:
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight=self.class_weight,
                                                                  max_iter=self.max_iter, random_state=self.random_state))

    def predict_proba(self, x) -> np.ndarray:
        return self.all_columns(self.model_.predict_proba(features(x)), self.model_.classes_)
