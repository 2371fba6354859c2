"""Maximum logit (Hendrycks et al., ICML 2022), with pytorch-ood's MaxLogit."""

from __future__ import annotations

import numpy as np

from samderm.ood.logits import LogitDetector, logits_of


class MaxLogit(LogitDetector):
    """Score = -max_c f_c(x): the unnormalised logit, so unlike MSP it keeps the logits' scale."""

    def __init__(self, batch_size: int = 4096):
        self.batch_size = batch_size

    def predict(self, features: np.ndarray) -> np.ndarray:
        from pytorch_ood.detector import MaxLogit as ReferenceMaxLogit  # on use: pytorch-ood loads torchvision (seconds)

        return ReferenceMaxLogit.score(logits_of(self.logits_fn_, features, self.batch_size)).numpy().astype(np.float64)
