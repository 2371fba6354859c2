"""HeadModel: the parallel (independent MLP per task) and multihead (shared trunk) heads on
raw encoder features; the train-set standardisation is a buffer inside the model so that
logits are differentiable with respect to the stored features."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from samderm.heads.layers import classifier, mlp
from samderm.matrix import TRAINED_TYPES


class HeadModel(nn.Module):
    def __init__(self, arch: str, tasks: Mapping[str, Sequence[str]], input_dim: int,
                 hidden: Sequence[int] = (256,), dropout: float = 0.2, cosine_scale: float | None = None):
        super().__init__()
        if arch not in TRAINED_TYPES:
            raise ValueError(f"unknown head architecture type '{arch}' (expected parallel or multihead)")
        self.arch = arch
        self.tasks = {t: list(c) for t, c in tasks.items()}
        self.input_dim = int(input_dim)
        self.arch_config = {"hidden": [int(h) for h in hidden], "dropout": float(dropout), "cosine_scale": cosine_scale}
        self.register_buffer("feature_mean", torch.zeros(self.input_dim))
        self.register_buffer("feature_std", torch.ones(self.input_dim))
        width = int(hidden[-1]) if hidden else self.input_dim
        if arch == "parallel":
            self.branches = nn.ModuleDict({
                t: nn.Sequential(mlp(self.input_dim, hidden, dropout), classifier(width, len(c), cosine_scale))
                for t, c in self.tasks.items()
            })
        else:
            self.trunk = mlp(self.input_dim, hidden, dropout)
            self.heads = nn.ModuleDict({t: classifier(width, len(c), cosine_scale) for t, c in self.tasks.items()})

    def set_standardisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        # a constant feature keeps its (zero) centred value instead of dividing by zero
        std = torch.as_tensor(std, dtype=torch.float32)
        self.feature_std.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor, tasks: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Logits per task on raw features; ``tasks`` limits the work to some tasks."""
        return self.logits(self.standardise(x), tasks)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.feature_mean) / self.feature_std

    def logits(self, z: torch.Tensor, tasks: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Logits per task on standardised features (training standardises its rows once)."""
        names = list(self.tasks) if tasks is None else list(tasks)
        if self.arch == "parallel":
            return {t: self.branches[t](z) for t in names}
        h = self.trunk(z)
        return {t: self.heads[t](h) for t in names}

    def task_module(self, task: str) -> nn.Module:
        """The parameters a task trains alone (parallel); multihead tasks share the whole model."""
        return self.branches[task] if self.arch == "parallel" else self

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, batch_size: int = 4096) -> dict[str, torch.Tensor]:
        was_training = self.training
        self.eval()
        parts = [self(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        self.train(was_training)
        return {t: torch.cat([p[t] for p in parts]).softmax(dim=1) for t in self.tasks}

    def describe(self) -> dict[str, Any]:
        return {"arch": self.arch, "arch_config": dict(self.arch_config), "tasks": dict(self.tasks), "input_dim": self.input_dim}
