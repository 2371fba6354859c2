"""The majority baseline: every image gets the class frequencies of the training labels, so
its argmax is the majority class (scikit-learn's ``DummyClassifier(strategy="prior")``)."""

from __future__ import annotations

import numpy as np

from samderm.heads.probes.base import Probe, features


class MajorityProbe(Probe):
    def fit(self, x_train, y_train, x_val=None, y_val=None) -> "MajorityProbe":
        y = self.check_labels(y_train)
        self.prior_ = np.bincount(y, minlength=self.n_classes) / len(y)
        return self

    def predict_proba(self, x) -> np.ndarray:
        return np.tile(self.prior_, (len(features(x)), 1))
