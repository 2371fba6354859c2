"""Out-of-distribution detectors (fit on in-distribution training features, predict scores:
higher = more likely OOD), their metrics, tuning on validation data, and the gate."""

from samderm.ood.energy import Energy
from samderm.ood.gen import GEN
from samderm.ood.knn import KNN
from samderm.ood.mahalanobis import Mahalanobis
from samderm.ood.maxlogit import MaxLogit
from samderm.ood.msp import MSP
from samderm.ood.odin import ODIN
from samderm.ood.relative_mahalanobis import RelativeMahalanobis
from samderm.ood.vim import ViM

DETECTORS = {"msp": MSP, "odin": ODIN, "energy": Energy, "mahalanobis": Mahalanobis, "maxlogit": MaxLogit, "gen": GEN,
             "knn": KNN, "vim": ViM, "relative_mahalanobis": RelativeMahalanobis}

__all__ = ["DETECTORS", "MSP", "ODIN", "Energy", "Mahalanobis", "MaxLogit", "GEN", "KNN", "ViM", "RelativeMahalanobis"]
