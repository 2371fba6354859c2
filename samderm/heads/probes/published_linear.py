"""The linear probe of PanDerm and DermFM-Zero (protocol ``published``).

Reference: SiyuanYan1/PanDerm and SiyuanYan1/DermFM-Zero,
``*/panderm_model/downstream/eval_features/logistic_regression.py`` (``LogisticRegression``) and
``linear_probe.py`` (``train_linear_probe``, ``_fit_logreg``), adapted from mbanani/lgssl
``lgssl/evaluation/``. Matched: a bias-carrying ``nn.Linear`` (torch's default initialisation
after ``torch.manual_seed(random_state)``; lgssl zero-fills, PanDerm does not), float32, the
objective mean cross-entropy + (1/C) * 0.5 * ||W||_2 (the unsquared Frobenius norm of the
weights, bias not penalised, no class weights), C = feature_dim * classes in train / 100, one
``LBFGS.step`` with ``line_search_fn="strong_wolfe"``, ``max_iter=1000`` and torch's other
defaults (lr 1, max_eval 1250, tolerance_grad 1e-7, tolerance_change 1e-9, history_size 100),
softmax probabilities, raw features (no normalisation anywhere in their pipeline).

Adapted: train and val are combined (``eval_linear_probe``'s ``combine_trainval=True``; their
``linear_eval.py`` drivers pass no val set, ``combine_train_val=False`` does the same); always
on the CPU (they use CUDA when present); the layer has one output per class present in the
fitted labels (theirs: ``len(unique(labels))`` outputs, assuming labels 0..K-1), the other
classes get probability 0; the global torch RNG is left as it was.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samderm.heads.probes.base import Probe, features


class PublishedLinearProbe(Probe):
    def __init__(self, n_classes: int, max_iter: int = 1000, combine_train_val: bool = True, random_state: int = 0):
        super().__init__(n_classes)
        self.max_iter = max_iter
        self.combine_train_val = combine_train_val
        self.random_state = random_state

    def fit(self, x_train, y_train, x_val=None, y_val=None) -> "PublishedLinearProbe":
        x, y = features(x_train), self.check_labels(y_train)
        # the reference's cost counts the classes of the train split, before val is added
        self.C_ = x.shape[1] * len(np.unique(y)) / 100
        if self.combine_train_val and x_val is not None:
            x, y = np.concatenate([x, features(x_val)]), np.concatenate([y, self.check_labels(y_val, "y_val")])
        self.classes_ = np.unique(y)
        inputs = torch.as_tensor(x, dtype=torch.float32)
        targets = torch.as_tensor(np.searchsorted(self.classes_, y))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            layer = nn.Linear(x.shape[1], len(self.classes_), bias=True)
        optimiser = torch.optim.LBFGS(layer.parameters(), line_search_fn="strong_wolfe", max_iter=self.max_iter)

        def objective() -> torch.Tensor:
            optimiser.zero_grad()
            loss = published_objective(layer(inputs), targets, layer.weight, self.C_)
            loss.backward()
            return loss

        optimiser.step(objective)
        with torch.no_grad():
            self.objective_ = float(published_objective(layer(inputs), targets, layer.weight, self.C_))
        self.coef_ = layer.weight.detach().numpy().copy()
        self.intercept_ = layer.bias.detach().numpy().copy()
        return self

    def predict_proba(self, x) -> np.ndarray:
        inputs = torch.as_tensor(features(x), dtype=torch.float32)
        logits = inputs @ torch.from_numpy(self.coef_).T + torch.from_numpy(self.intercept_)
        return self.all_columns(logits.softmax(dim=1).double().numpy(), self.classes_)


def published_objective(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, C: float) -> torch.Tensor:
    """Mean cross-entropy + (1/C) * 0.5 * ||W||_2 (unsquared; the bias is not in it)."""
    return F.cross_entropy(logits, targets) + (1.0 / C) * 0.5 * torch.linalg.vector_norm(weight)
