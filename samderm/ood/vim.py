"""ViM, virtual-logit matching (Wang et al., CVPR 2022), with pytorch-ood's ViM on the head's
penultimate features and its last linear layer."""

from __future__ import annotations

import numpy as np
import torch

from samderm.ood.errors import HyperParameterOutOfRange
from samderm.ood.logits import as_tensor, batches
from samderm.ood.readout import linear_readout


class ViM:
    """Score = alpha * || (h - u) projected off the top-`principal_dim` principal subspace || - logsumexp(logits),
    h the penultimate features, logits = W h + b, origin u = -pinv(W) b, principal subspace of the
    (h - u) training covariance, alpha = mean max-logit / mean residual norm on the training features."""

    def __init__(self, principal_dim: int = 64, batch_size: int = 4096):
        self.principal_dim = principal_dim
        self.batch_size = batch_size

    def fit(self, features: np.ndarray, labels: np.ndarray, logits_fn) -> "ViM":
        self.penultimate_, weight, bias = linear_readout(logits_fn)
        h = self._penultimate(features)
        # with principal_dim >= N the N training features have no residual to scale alpha by
        if not 1 <= self.principal_dim < min(h.shape):
            raise HyperParameterOutOfRange(f"ViM principal_dim={self.principal_dim} needs 1 <= dim < both the "
                                           f"{h.shape[1]} penultimate features and the {h.shape[0]} training images")
        from pytorch_ood.detector import ViM as ReferenceViM  # on use: pytorch-ood loads torchvision (seconds)

        self.vim_ = ReferenceViM(None, d=self.principal_dim, w=weight, b=bias)
        self.vim_.fit_features(h, torch.zeros(len(h), dtype=torch.long))
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.vim_.predict_features(self._penultimate(features)).numpy().astype(np.float64)

    @torch.no_grad()
    def _penultimate(self, features: np.ndarray) -> torch.Tensor:
        x = as_tensor(features)
        if x.shape[0] == 0:
            raise ValueError("no features to score")
        return torch.cat([self.penultimate_(chunk) for chunk in batches(x, self.batch_size)])
