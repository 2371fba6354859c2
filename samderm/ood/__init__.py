"""Out-of-distribution detectors (fit on in-distribution training features, predict scores:
higher = more likely OOD), their metrics, tuning on validation data, and the gate."""

from samderm.ood.energy import Energy
from samderm.ood.mahalanobis import Mahalanobis
from samderm.ood.msp import MSP
from samderm.ood.odin import ODIN

DETECTORS = {"msp": MSP, "odin": ODIN, "energy": Energy, "mahalanobis": Mahalanobis}

__all__ = ["DETECTORS", "MSP", "ODIN", "Energy", "Mahalanobis"]
