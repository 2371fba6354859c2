"""Checks of a study config that a JSON schema cannot express.

Each problem is reported as one line naming the key, and all problems are reported together,
so a researcher fixes the config in one go before any job starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from samderm.data.labels import UNK
from samderm.data.sources.read import OFFICIAL, configured_sources, source_files
from samderm.features.spec import crop_segmenter, encoder_problems
from samderm.losses.parameters import loss_config_problems
from samderm.matrix import (AXES, CROPS, MLP_SETTINGS, NO_LOSS, PROBE_TYPES, TRAINED_TYPES, Run,
                            architecture_type, expand_matrix, is_probe)

# the settings each probe type takes (samderm.heads.probes.build_probe checks their values when it runs)
PROBE_SETTINGS = {"linear_probe": {"protocol", "c_grid", "class_weight", "max_iter", "combine_train_val"},
                  "knn_probe": {"k", "weights"}, "majority": set()}


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


def external_source_problems(config: Mapping[str, Any]) -> list[str]:
    """data.sources against evaluation.external and ood.shift: every name defined, every source used, its files named,
    its mapping onto the study's classes."""
    sources = configured_sources(config["data"])
    used = {"evaluation.external": (config.get("evaluation") or {}).get("external") or [],
            "ood.shift": config["ood"].get("shift") or []}
    problems = [f"{key}: '{name}' is not a data.sources entry (defined: {', '.join(sources) or 'none'})"
                for key, names in used.items() for name in names if name not in sources]
    classes = [*config["labels"]["lesion_classes"], *([UNK] if config["data"].get("unk") == "keep" else [])]
    for name, source in sources.items():
        if not any(name in names for names in used.values()):
            problems.append(f"data.sources.{name}: named in neither evaluation.external nor ood.shift (it would be encoded and never used)")
        try:
            source_files(name, source)
        except ValueError as err:
            problems.append(str(err))
        wrong = {k: v for k, v in (source.get("mapping") or {}).items() if v not in classes}
        if wrong:
            problems.append(f"data.sources.{name}.mapping: {wrong} map to classes outside labels.lesion_classes ({', '.join(classes)})")
    return problems


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
    for key, patterns in (("matrix.exclude", m.get("exclude", [])), ("ood.exclude", config["ood"].get("exclude", []))):
        for i, pattern in enumerate(patterns):
            for axis in pattern:
                if axis not in AXES:
                    problems.append(f"{key}[{i}]: unknown axis '{axis}' (axes: {', '.join(AXES)})")

    for name, exp in config["experiments"].items():
        if exp["balancing"] not in config["balancing"]:
            problems.append(
                f"experiments.{name}.balancing: unknown balancing strategy '{exp['balancing']}' "
                f"(defined: {', '.join(config['balancing'])})"
            )
        lesion_classes = [*config["labels"]["lesion_classes"], *([UNK] if config["data"].get("unk") == "keep" else [])]
        held_out = [c for c in exp.get("held_out_classes") or [] if c not in lesion_classes]
        if held_out:
            problems.append(f"experiments.{name}.held_out_classes: {held_out} are not lesion classes ({', '.join(lesion_classes)})")
        elif len(lesion_classes) - len(set(exp.get("held_out_classes") or [])) < 2:
            problems.append(f"experiments.{name}.held_out_classes: the lesion task needs at least 2 classes left")
        if exp.get("semi_supervised") and name in m["experiments"] and not config["data"].get("unlabeled_dir"):
            problems.append(f"experiments.{name}.semi_supervised: needs unlabeled images; set data.unlabeled_dir")
    problems += external_source_problems(config)
    problems += loss_config_problems(config["losses"])
    if NO_LOSS in config["losses"]:
        problems.append(f"losses.{NO_LOSS}: the name '{NO_LOSS}' is the loss of probe runs; rename this loss")
    runs = expand_matrix(config)
    problems += _probe_problems(config, runs)
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

    problems += encoder_problems(config, runs)
    problems += _checkpoint_checksum_problems(config, Path(root))
    problems += _data_problems(config["data"], Path(root))
    if not problems and not runs:
        problems.append("matrix.exclude: every combination is excluded, nothing would run")
    return problems


def _probe_problems(config: Mapping[str, Any], runs: Sequence[Run]) -> list[str]:
    """Probe settings of the right type, probes only where they can run (not semi-supervised, not in the OOD step)."""
    problems: list[str] = []
    for name, arch in config["architectures"].items():
        if arch["type"] not in PROBE_TYPES:
            continue
        unknown = sorted(set(arch) - {"type", *MLP_SETTINGS} - PROBE_SETTINGS[arch["type"]])
        if unknown:
            problems.append(f"architectures.{name}: {arch['type']} does not take {unknown} "
                            f"(it takes: {', '.join(sorted(PROBE_SETTINGS[arch['type']])) or 'nothing'})")
        if arch["type"] != "linear_probe" and arch.get("protocol"):
            problems.append(f"architectures.{name}.protocol: only linear_probe has a protocol")
    probe_runs = [r for r in runs if is_probe(config, r.architecture)]
    for experiment in sorted({r.experiment for r in probe_runs}):
        if config["experiments"][experiment].get("semi_supervised"):
            archs = sorted({r.architecture for r in probe_runs if r.experiment == experiment})
            problems.append(f"matrix: probes {archs} in the semi-supervised experiment {experiment} (self-training "
                            f"retrains MLP heads only); add to matrix.exclude: "
                            f"{{experiment: {experiment}, architecture: [{', '.join(archs)}]}}")
    for i, name in enumerate((config.get("ood") or {}).get("architectures") or []):
        if name in config["architectures"] and architecture_type(config, name) not in TRAINED_TYPES:
            problems.append(f"ood.architectures[{i}]: '{name}' is not a trained architecture (the OOD detectors read "
                            f"an MLP head's logits and features; type must be one of {', '.join(TRAINED_TYPES)})")
    return problems


def download_rule(downloads: Mapping[str, Any], name: str) -> bool:
    """Whether data.download makes a rule that fetches data set ``name``."""
    item = downloads.get(name) or {}
    return bool(downloads.get("enabled") and (item.get("url") or item.get("files")))


def public_datasets(data: Mapping[str, Any]) -> list[str]:
    """The public data sets (places365, dtd) that data.public draws not-skin or OOD images from."""
    public = data.get("public") or {}
    return sorted({name for use in ("not_skin", "ood") for name in (public.get(use) or {})})


def _public_problems(data: Mapping[str, Any], root: Path) -> list[str]:
    problems: list[str] = []
    public, downloads = data.get("public") or {}, data.get("download") or {}
    not_skin, ood = public.get("not_skin") or {}, public.get("ood") or {}
    for name in sorted(set(not_skin) & set(ood)):
        a, b = not_skin[name]["categories"], ood[name]["categories"]
        if a == "all" and b == "all":
            problems.append(f"data.public.ood.{name}.categories: 'all' and data.public.not_skin.{name}.categories: 'all' "
                            "take the same images for training and OOD testing; list the categories of one of them")
        elif a != "all" and b != "all":
            from samderm.data.public_sets import category_name

            shared = sorted({category_name(c) for c in a} & {category_name(c) for c in b})
            if shared:
                problems.append(f"data.public.ood.{name}.categories: {shared} also in data.public.not_skin.{name}.categories "
                                "(a category is either not-skin training or OOD, never both)")
    for name in public_datasets(data):
        raw = Path(downloads.get("dir", "results/downloads")) / name
        if (root / raw).is_dir():
            problems += _unknown_categories(name, root / raw, not_skin, ood)
        elif not download_rule(downloads, name):
            problems.append(f"data.public: draws from {name} but '{raw}' does not exist "
                            f"(set data.download.enabled and data.download.{name}.url or .files)")
    return problems


def _unknown_categories(name: str, raw: Path, not_skin: Mapping[str, Any], ood: Mapping[str, Any]) -> list[str]:
    """Listed categories that the already unpacked set lacks (before a download they are checked when drawn)."""
    from samderm.data.public_sets import CATEGORIES, category_name

    try:
        available = set(CATEGORIES[name](raw))
    except (OSError, ValueError) as err:
        return [f"data.public: cannot read the {name} categories in '{raw}': {err}"]
    problems = []
    for use, sets in (("not_skin", not_skin), ("ood", ood)):
        wanted = (sets.get(name) or {}).get("categories", "all")
        unknown = [] if wanted == "all" else [c for c in wanted if category_name(c) not in available]
        if unknown:
            problems.append(f"data.public.{use}.{name}.categories: unknown {name} categories {unknown}")
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
    from samderm.data.download import checksum_problem, download_items

    downloads = data.get("download") or {}
    unlabeled = ["isic2019_test"] if data.get("unlabeled_dir") else []
    sources = {n: s for n, s in configured_sources(data).items() if s["adapter"] in OFFICIAL}
    for name in dict.fromkeys(["isic2019", *unlabeled, *public_datasets(data), *(s["adapter"] for s in sources.values())]):
        if download_rule(downloads, name):
            problems += filter(None, (checksum_problem(item, where) for where, item in download_items(name, downloads[name]).items()))
    public = data.get("public") or {}
    wanted = {
        "data.isic2019.root": (data["isic2019"]["root"], download_rule(downloads, "isic2019"),
                               " (or set data.download.enabled and data.download.isic2019)"),
        "data.not_skin_dir": (data["not_skin_dir"], bool(public.get("not_skin")),
                              " (your own not-skin folder, or draw it from public sets with data.public.not_skin)"),
        "data.ood_dir": (data["ood_dir"], bool(public.get("ood")), " (or draw it from public sets with data.public.ood)"),
    }
    if data.get("unlabeled_dir"):
        wanted["data.unlabeled_dir"] = (data["unlabeled_dir"], download_rule(downloads, "isic2019_test"),
                                        " (or set data.download.enabled and data.download.isic2019_test)")
    for name, source in sources.items():
        wanted[f"data.sources.{name}.root"] = (source["root"], download_rule(downloads, source["adapter"]),
                                                f" (or set data.download.enabled and data.download.{source['adapter']})")
    for key, (path, made_by_a_rule, hint) in wanted.items():
        if not made_by_a_rule and not (root / path).is_dir():
            problems.append(f"{key}: folder '{path}' does not exist{hint}")
    return problems + _public_problems(data, root)


def _checkpoint_checksum_problems(config: Mapping[str, Any], root: Path) -> list[str]:
    """A checkpoint the study will download (an encoder of the matrix, or the lesion-crop
    segmenter when lesion crops are in it) needs a well-formed sha256."""
    from samderm.data.download import checksum_problem

    used = set(config["matrix"]["encoders"])
    if "lesion" in config["matrix"]["crops"]:
        used.add(crop_segmenter(config))
    problems = []
    for name, encoder in config["encoders"].items():
        sha256 = encoder.get("sha256")
        fetched = encoder.get("url") and encoder.get("checkpoint") and name in used
        if (fetched and not (root / encoder["checkpoint"]).is_file()) or sha256 is not None:
            problem = checksum_problem({"sha256": sha256}, f"encoders.{name}", md5_allowed=False)
            if problem:
                problems.append(problem)
    return problems


def check_config(config: Mapping[str, Any], root: str | Path = ".") -> None:
    problems = config_problems(config, root)
    if problems:
        raise ConfigError("the study config cannot run:\n  - " + "\n  - ".join(problems))
