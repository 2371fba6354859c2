"""ODIN (Liang et al., ICLR 2018), in the feature space of a frozen encoder.

The paper perturbs the input image. Here the head's input is the cached encoder feature
vector, so the perturbation is applied to that vector instead: a feature-space variant of
the image-space method, with epsilon in the units of the stored (raw, unstandardised)
features. The encoder is never differentiated.
"""

from __future__ import annotations

import numpy as np
import torch

from samderm.ood.logits import LogitDetector, as_tensor, batches, max_softmax


class ODIN(LogitDetector):
    """Score = -max_c S_c(x~; T), with S the softmax at temperature T and
    x~ = x - epsilon * sign(-grad_x log S_yhat(x; T)), yhat the predicted class: the step that
    raises the predicted class's softmax, which the paper finds raises it more for
    in-distribution inputs. epsilon=0 and T=1 is exactly the MSP baseline."""

    def __init__(self, temperature: float = 1000.0, epsilon: float = 0.0014, batch_size: int = 4096):
        self.temperature = temperature
        self.epsilon = epsilon
        self.batch_size = batch_size

    def perturb(self, features: np.ndarray) -> torch.Tensor:
        """The perturbed features x~ (N x D)."""
        return torch.cat([self._perturb(chunk) for chunk in batches(as_tensor(features), self.batch_size)])

    def predict(self, features: np.ndarray) -> np.ndarray:
        scores = []
        for chunk in batches(as_tensor(features), self.batch_size):
            with torch.no_grad():
                logits = self.logits_fn_(self._perturb(chunk))
            scores.append(-max_softmax(logits, self.temperature))
        if not scores:
            raise ValueError("no features to score")
        return np.concatenate(scores)

    def _perturb(self, x: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)
            log_probs = torch.log_softmax(self.logits_fn_(x) / self.temperature, dim=1)
            predicted = log_probs.argmax(dim=1, keepdim=True)
            # grad of the summed log-probabilities: each row's gradient is its own (rows are independent)
            (grad,) = torch.autograd.grad(log_probs.gather(1, predicted).sum(), x)
        return x.detach() - self.epsilon * torch.sign(-grad)
