"""The experiment matrix: which runs a config asks for, and where each one lives."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

CROPS = ("full", "lesion")
TRAINED_TYPES = ("parallel", "multihead")
PROBE_TYPES = ("linear_probe", "knn_probe", "majority")
MLP_SETTINGS = ("hidden", "dropout")  # the schema fills them into every architecture entry, probes included
# the loss of a probe run: probes have their own objective, so one run per probe, not one per loss
NO_LOSS = "none"
# an exclude pattern may name any of these axes
AXES = ("experiment", "loss", "architecture", "crop", "encoder", "resolution", "seed")


@dataclass(frozen=True)
class Run:
    experiment: str
    loss: str
    architecture: str
    crop: str
    encoder: str
    pooling: str
    resolution: int
    seed: int

    @property
    def feature_set(self) -> str:
        return feature_set_id(self.encoder, self.pooling, self.resolution)

    @property
    def path(self) -> str:
        """Relative path below results/runs/ and results/ood/."""
        return f"{self.experiment}/{self.loss}/{self.architecture}/{self.crop}/{self.feature_set}/seed{self.seed}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def feature_set_id(encoder: str, pooling: str, resolution: int | str) -> str:
    return f"{encoder}-{pooling}-r{resolution}"


def _matches(run: Run, pattern: Mapping[str, Any]) -> bool:
    for axis, wanted in pattern.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if str(getattr(run, axis)) not in {str(v) for v in values}:
            return False
    return True


def expand_matrix(config: Mapping[str, Any]) -> list[Run]:
    """Every run of ``config['matrix']``, in a stable order, minus ``matrix.exclude`` patterns."""
    m = config["matrix"]
    pooling = config["features"]["pooling"]
    runs = [
        Run(exp, NO_LOSS if is_probe(config, arch) else loss, arch, crop, enc, pooling, int(res), int(seed))
        for exp, loss, arch, crop, enc, res, seed in itertools.product(
            m["experiments"], m["losses"], m["architectures"], m["crops"],
            m["encoders"], m["resolutions"], m["seeds"],
        )
    ]
    runs = list(dict.fromkeys(runs))  # a probe appears once per loss of the product: keep the first
    return [r for r in runs if not any(_matches(r, p) for p in m.get("exclude", []))]


def ood_runs(config: Mapping[str, Any], runs: Sequence[Run]) -> list[Run]:
    """The runs that get OOD scores: of ood.architectures, not matching an ood.exclude pattern."""
    ood = config["ood"]
    return [r for r in runs if r.architecture in ood["architectures"]
            and not any(_matches(r, p) for p in ood.get("exclude", []))]


def is_probe(config: Mapping[str, Any], architecture: str) -> bool:
    """Whether the architecture is a probe (linear_probe, knn_probe, majority), trained without a loss."""
    return (config["architectures"].get(architecture) or {}).get("type") in PROBE_TYPES


def architecture_type(config: Mapping[str, Any], name: str) -> str:
    return config["architectures"][name]["type"]


def balancing_augments(config: Mapping[str, Any], balancing: str) -> bool:
    return int(config["balancing"][balancing].get("augment_to", 0)) > 0


def feature_stores(config: Mapping[str, Any], run: Run) -> list[str]:
    """Feature-store directories (below results/features/) one run reads: the original images,
    plus the augmented copies of its experiment's balancing strategy when it makes any."""
    base = f"{run.feature_set}/{run.crop}"
    balancing = config["experiments"][run.experiment]["balancing"]
    stores = [f"{base}/images"]
    if balancing_augments(config, balancing):
        stores.append(f"{base}/aug-{balancing}")
    return stores


def supervised_twin(experiments: Mapping[str, Mapping], name: str, candidates: Sequence[str]) -> str | None:
    """The experiment among ``candidates`` whose settings are ``name``'s without semi_supervised, or None
    (the supervised baseline of a semi-supervised experiment)."""
    target = {k: v for k, v in experiments[name].items() if k != "semi_supervised"}
    return next((c for c in candidates if c != name and dict(experiments[c]) == target), None)
