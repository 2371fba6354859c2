"""Detectors by the names ``ood.detectors`` lists: a base detector of ``samderm.ood.DETECTORS``, its fixed
arguments from its own section (e.g. ``ood.mahalanobis.covariance``), or a study's variant
(``ood.variants: {name: {detector: base, **arguments}}``), so one detector table can show, say,
Mahalanobis with the papers' empirical covariance beside Mahalanobis with Ledoit-Wolf shrinkage."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Mapping

from samderm.ood import DETECTORS
from samderm.ood.tuning import GRIDS


@dataclass(frozen=True)
class DetectorSpec:
    """One named detector: ``name`` as in ood.detectors and every table, ``base`` the DETECTORS key whose
    grid (``ood.{base}``) tunes it, ``fixed`` the constructor arguments it is built with and never tunes."""

    name: str
    base: str
    fixed: dict = field(default_factory=dict)

    @property
    def cls(self) -> type:
        return DETECTORS[self.base]

    def __call__(self, **tuned):
        return self.cls(**self.fixed, **tuned)

    def __str__(self) -> str:
        return self.name

    def arguments(self, tuned: Mapping[str, Any]) -> dict[str, Any]:
        """Every fixable argument's value (constructor default, else fixed) plus the tuned ones: what rebuilds
        this detector exactly even if a default changes later (the model bundle records it)."""
        defaults = {p.name: p.default for p in inspect.signature(self.cls).parameters.values()
                    if p.name in fixable_arguments(self.base)}
        return {**defaults, **self.fixed, **tuned}


def fixable_arguments(base: str) -> list[str]:
    """Constructor arguments a config may fix: all but those its val grid tunes and the batch size."""
    tuned = {argument for argument, _ in GRIDS.get(base, {}).values()}
    return [p for p in inspect.signature(DETECTORS[base]).parameters if p not in tuned and p != "batch_size"]


def detector_spec(name: str, ood: Mapping[str, Any] | None = None) -> DetectorSpec:
    """The named detector of the ``ood`` config section (None: a base detector with its defaults).
    An unknown name, variant base or argument is a ValueError naming the config key."""
    ood = ood or {}
    variants = ood.get("variants") or {}
    if name in DETECTORS:
        if name in variants:
            raise ValueError(f"ood.variants.{name}: a variant cannot take the name of the base detector {name}")
        section = ood.get(name) or {}
        return _checked(DetectorSpec(name, name, {k: v for k, v in section.items() if k in fixable_arguments(name)}),
                        f"ood.{name}")
    if name not in variants:
        raise ValueError(f"ood.detectors: unknown detector {name!r}; the detectors are {sorted(DETECTORS)} and the "
                         f"variants of ood.variants {sorted(variants)}")
    entry = dict(variants[name])
    base = entry.pop("detector", None)
    if base not in DETECTORS:
        raise ValueError(f"ood.variants.{name}.detector: {base!r} is not one of {sorted(DETECTORS)}")
    allowed = fixable_arguments(base)
    for key in entry:
        if key not in allowed:
            raise ValueError(f"ood.variants.{name}.{key}: {base} takes no fixed argument {key!r} "
                             f"(it takes {allowed or 'none'}; tuned ones come from the ood.{base} grid)")
    inherited = {k: v for k, v in (ood.get(base) or {}).items() if k in allowed}
    return _checked(DetectorSpec(name, base, {**inherited, **entry}), f"ood.variants.{name}")


def _checked(spec: DetectorSpec, where: str) -> DetectorSpec:
    try:
        spec()  # the constructor checks the values (e.g. an unknown covariance estimator)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return spec
