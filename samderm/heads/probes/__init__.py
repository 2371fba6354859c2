"""Probes on frozen encoder features, beside the MLP heads: the linear probe (protocols
``published`` and ``tuned``), the k-nearest-neighbour probe and the majority baseline.

Each is a ``Probe`` (``fit(x_train, y_train, x_val=None, y_val=None) -> self``,
``predict_proba(x) -> (N, n_classes)``, ``predict(x)``); ``build_probe`` makes one from its name
and its config parameters."""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from samderm.heads.probes.base import Probe
from samderm.heads.probes.knn import KNNProbe
from samderm.heads.probes.majority import MajorityProbe
from samderm.heads.probes.published_linear import PublishedLinearProbe
from samderm.heads.probes.tuned_linear import TunedLinearProbe

LINEAR_PROTOCOLS = {"published": PublishedLinearProbe, "tuned": TunedLinearProbe}
PROBES = {"linear_probe": LINEAR_PROTOCOLS, "knn_probe": KNNProbe, "majority": MajorityProbe}


def build_probe(name: str, params: Mapping[str, Any] | None, n_classes: int) -> Probe:
    """The probe ``name`` with ``params`` (``linear_probe`` takes ``protocol``: ``published``,
    the default, or ``tuned``) for a task of ``n_classes`` classes."""
    if name not in PROBES:
        raise ValueError(f"unknown probe '{name}' (expected one of {', '.join(PROBES)})")
    params = dict(params or {})
    probe = PROBES[name]
    if name == "linear_probe":
        protocol = params.pop("protocol", "published")
        if protocol not in LINEAR_PROTOCOLS:
            raise ValueError(f"unknown protocol '{protocol}' for probe 'linear_probe' "
                             f"(expected one of {', '.join(LINEAR_PROTOCOLS)})")
        probe = LINEAR_PROTOCOLS[protocol]
    accepted = [p for p in inspect.signature(probe).parameters if p != "n_classes"]
    for key in params:
        if key not in accepted:
            raise ValueError(f"unknown parameter '{key}' for probe '{name}' (expected one of: {', '.join(accepted) or 'none'})")
    return probe(n_classes, **params)


__all__ = ["KNNProbe", "LINEAR_PROTOCOLS", "MajorityProbe", "PROBES", "Probe", "PublishedLinearProbe",
           "TunedLinearProbe", "build_probe"]
