"""Checks of a study config that a JSON schema cannot express.

Each problem is reported as one line naming the key, and all problems are reported together,
so a researcher fixes the config in one go before any job starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from samderm.features.spec import encoder_problems
from samderm.matrix import AXES, CROPS, architecture_type, expand_matrix

TRAINED_TYPES = ("parallel", "multihead")


class ConfigError(ValueError):
    """A study config that cannot run; the message names every offending key."""


class _StrictLoader(yaml.SafeLoader):
    pass


def _no_duplicate_keys(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(
                f"{key_node.start_mark.name}, line {key_node.start_mark.line + 1}: "
                f"duplicate key '{key}' (the second one would silently replace the first)"
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def load_yaml_strict(path: str | Path) -> Any:
    """Load a YAML file, refusing duplicate keys (PyYAML keeps the last one without a word)."""
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_StrictLoader)


def _check_names(problems: list[str], key: str, names: list[Any], defined: Any, what: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if str(name) in seen:
            problems.append(f"{key}[{i}]: '{name}' is listed twice")
        seen.add(str(name))
        if defined is not None and name not in defined:
            problems.append(
                f"{key}[{i}]: unknown {what} '{name}' (defined: {', '.join(map(str, defined)) or 'none'})"
            )


def _paths_overlap(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def config_problems(config: Mapping[str, Any], root: str | Path = ".") -> list[str]:
    """Every problem of a schema-valid config, one line each (empty when it can run)."""
    problems: list[str] = []
    m = config["matrix"]
    _check_names(problems, "matrix.experiments", m["experiments"], config["experiments"], "experiment")
    _check_names(problems, "matrix.losses", m["losses"], config["losses"], "loss")
    _check_names(problems, "matrix.architectures", m["architectures"], config["architectures"], "architecture")
    _check_names(problems, "matrix.crops", m["crops"], CROPS, "crop mode")
    _check_names(problems, "matrix.encoders", m["encoders"], config["encoders"], "encoder")
    _check_names(problems, "matrix.resolutions", m["resolutions"], None, "resolution")
    _check_names(problems, "matrix.seeds", m["seeds"], None, "seed")
    for i, pattern in enumerate(m.get("exclude", [])):
        for axis in pattern:
            if axis not in AXES:
                problems.append(f"matrix.exclude[{i}]: unknown axis '{axis}' (axes: {', '.join(AXES)})")

    for name, exp in config["experiments"].items():
        if exp["balancing"] not in config["balancing"]:
            problems.append(
                f"experiments.{name}.balancing: unknown balancing strategy '{exp['balancing']}' "
                f"(defined: {', '.join(config['balancing'])})"
            )
    for name, arch in config["architectures"].items():
        if arch["type"] != "ensemble":
            continue
        for j, member in enumerate(arch.get("members", [])):
            if member not in config["architectures"]:
                problems.append(f"architectures.{name}.members[{j}]: unknown architecture '{member}'")
            elif architecture_type(config, member) not in TRAINED_TYPES:
                problems.append(
                    f"architectures.{name}.members[{j}]: '{member}' is not a trained architecture "
                    f"(type must be one of {', '.join(TRAINED_TYPES)})"
                )

    problems += encoder_problems(config, expand_matrix(config))

    problems += _data_problems(config["data"], Path(root))
    if not problems and not expand_matrix(config):
        problems.append("matrix.exclude: every combination is excluded, nothing would run")
    return problems


def _data_problems(data: Mapping[str, Any], root: Path) -> list[str]:
    problems: list[str] = []
    not_skin, ood = root / data["not_skin_dir"], root / data["ood_dir"]
    if _paths_overlap(not_skin, ood):
        problems.append(
            f"data.ood_dir: '{data['ood_dir']}' overlaps data.not_skin_dir '{data['not_skin_dir']}' "
            "(an image must never be both a not-skin training image and an OOD test image)"
        )
    if data["source"] == "demo":
        return problems  # the demo generator writes every folder
    downloads = data.get("download", {})
    wanted = {
        "data.isic2019.root": (data["isic2019"]["root"], "isic2019"),
        "data.not_skin_dir": (data["not_skin_dir"], None),
        "data.ood_dir": (data["ood_dir"], "places365"),
    }
    for key, (path, download) in wanted.items():
        item = downloads.get(download, {}) if download else {}
        fetched = downloads.get("enabled") and (item.get("url") or item.get("files"))
        if not fetched and not (root / path).is_dir():
            problems.append(f"{key}: folder '{path}' does not exist" + (
                f" (or set data.download.enabled and data.download.{download}.url)" if download else ""))
    return problems


def check_config(config: Mapping[str, Any], root: str | Path = ".") -> None:
    problems = config_problems(config, root)
    if problems:
        raise ConfigError("the study config cannot run:\n  - " + "\n  - ".join(problems))
