"""Out-of-distribution detectors (fit on in-distribution training features, predict scores:
higher = more likely OOD), their metrics, tuning on validation data, and the gate.

The detectors (torch) load on first use: the report jobs read only ``samderm.ood.metrics`` and
``samderm.ood.sets``, and importing torch costs each of them 1.5 s of its few seconds."""

from importlib import import_module

# class name -> its module below samderm.ood
_CLASSES = {"MSP": "msp", "ODIN": "odin", "Energy": "energy", "Mahalanobis": "mahalanobis", "MaxLogit": "maxlogit",
            "GEN": "gen", "KNN": "knn", "ViM": "vim", "RelativeMahalanobis": "relative_mahalanobis"}
_NAMES = {"msp": "MSP", "odin": "ODIN", "energy": "Energy", "mahalanobis": "Mahalanobis", "maxlogit": "MaxLogit",
          "gen": "GEN", "knn": "KNN", "vim": "ViM", "relative_mahalanobis": "RelativeMahalanobis"}


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(import_module(f"samderm.ood.{_CLASSES[name]}"), name)
    if name == "DETECTORS":
        return {key: __getattr__(cls) for key, cls in _NAMES.items()}
    raise AttributeError(f"module 'samderm.ood' has no attribute {name!r}")


__all__ = ["DETECTORS", "MSP", "ODIN", "Energy", "Mahalanobis", "MaxLogit", "GEN", "KNN", "ViM", "RelativeMahalanobis"]
