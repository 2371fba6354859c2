"""The model bundle (results/models/): bundle.json (format samderm-bundle/1), the heads' model.pt
files and the gate's fit rows, everything ``predict`` needs without the study's other outputs; bundle.json
records each file's size and sha256, and a file that differs is refused, never loaded.

The OOD detector is stored as the rows it was fit on (features and labels, weights_only-loadable)
and refit on load with its val-chosen hyper-parameters: every detector's fit is deterministic, so
this reproduces the study's fitted state without pickling detector objects."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from samderm.features.checkpoint import CheckpointError, verify_sha256
from samderm.heads import HeadModel, load_head
from samderm.metrics.calibration import AT_SEARCH_BOUND, FITTED, VAL_ERROR_FREE
from samderm.io import atomic_path, check_digest, file_digest, read_json, write_json
from samderm.ood import DETECTORS
from samderm.ood.logits import LogitDetector
from samderm.ood.readout import HeadReadout

log = logging.getLogger(__name__)
FORMAT = "samderm-bundle/1"
BUNDLE_FILE = "bundle.json"
GATE_FIT_FORMAT = "samderm-gate-fit/1"
TASKS = ("skin", "lesion", "malignancy")
LEGACY_LEDOIT_WOLF = ("mahalanobis", "relative_mahalanobis")  # their covariance before it was a recorded argument
NOT_CALIBRATED = {VAL_ERROR_FREE: "temperature not identifiable: every validation prediction was right (T = 1 kept)",
                  AT_SEARCH_BOUND: "temperature not identifiable: the validation NLL optimum is at the edge of the "
                                   "search (T = 1 kept)",
                  None: "the study has no calibration temperature for its run"}


class BundleError(ValueError):
    """A bundle that cannot be used; the message names the file."""


def config_sha256(config: Mapping[str, Any]) -> str:
    """sha256 of the study's config as canonical JSON (sorted keys): which study made the bundle."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def feature_set_key(fs: Mapping[str, Any]) -> str:
    """``{encoder}-{pooling}-r{resolution}/{crop}``: the store folder the feature set fills."""
    return f"{fs['encoder']}-{fs['pooling']}-r{int(fs['resolution'])}/{fs['crop']}"


def needs_fit_rows(detector: str) -> bool:
    """Logit detectors remember only the head; the others fit on training features."""
    return not issubclass(DETECTORS[detector], LogitDetector)


@dataclass
class HeadSpec:
    """One task's chosen head: its model.pt, its run, its feature set, calibration temperature and why
    (``temperature_status`` of calibration_runs.tsv; ``fitted`` where a temperature is given without one)."""

    model: Path
    run: dict
    feature_set: dict  # encoder, pooling, resolution, crop
    temperature: float | None = None
    temperature_status: str | None = None
    selection: dict = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        return self.temperature_status or (None if self.temperature is None else FITTED)


def uncalibrated_reason(task: Mapping[str, Any]) -> str | None:
    """Why a bundle task's probabilities are not temperature-scaled; None when they are."""
    if task.get("temperature") is None:
        return NOT_CALIBRATED[None]
    status = task.get("temperature_status") or FITTED  # bundles written before the status was recorded
    return None if status == FITTED else NOT_CALIBRATED.get(status, status)


def calibration_notes(content: Mapping[str, Any]) -> dict[str, str]:
    """Per bundle task what its calibrated probabilities are: scaled by which T, or why there are none."""
    notes = {}
    for task, spec in content["tasks"].items():
        why = uncalibrated_reason(spec)
        notes[task] = f"temperature-scaled, T = {float(spec['temperature']):.4g}" if why is None else f"none, {why}"
    return notes


@dataclass
class GateSpec:
    model: Path
    run: dict
    feature_set: dict
    head: str
    detector: str
    params: dict
    threshold: float
    fit_features: np.ndarray
    fit_labels: np.ndarray
    selection: dict = field(default_factory=dict)
    base_detector: str = ""  # the samderm.ood.DETECTORS key of a variant (ood.variants); empty: ``detector`` is one

    @property
    def detector_class(self) -> str:
        return self.base_detector or self.detector


def write_bundle(out_dir: str | Path, heads: Mapping[str, HeadSpec], gate: GateSpec, feature_sets: Mapping[str, dict],
                 features: dict, segmenter: dict | None, malignancy_of_class: Mapping[str, str],
                 config_hash: str, extra: Mapping[str, Any] | None = None) -> dict:
    """Copy the heads in, save the gate's fit rows, write bundle.json (with their sizes and sha256s under
    "files"); returns its content.
    ``feature_sets``: {feature_set_key: encoder, encoder_config, pooling, resolution, crop,
    checkpoint_sha256, random_weights, licence, gated}; ``features``: batch_size, dtype, crop settings."""
    out = Path(out_dir)
    (out / "heads").mkdir(parents=True, exist_ok=True)
    tasks = {}
    for task, spec in heads.items():
        head = load_head(spec.model)  # refuse a file that is not a head before copying it
        if task not in head.tasks:
            raise BundleError(f"{spec.model}: the head chosen for {task} has no {task} output ({list(head.tasks)})")
        shutil.copyfile(spec.model, out / "heads" / f"{task}.pt")
        tasks[task] = {"model": f"heads/{task}.pt", "classes": head.tasks[task], "run": spec.run,
                       "feature_set": feature_set_key(spec.feature_set), "temperature": spec.temperature,
                       "temperature_status": spec.status, "selection": spec.selection}
    load_head(gate.model)  # its size and sha256 checked before copying it
    shutil.copyfile(gate.model, out / "heads" / "gate.pt")
    if needs_fit_rows(gate.detector_class):
        rows = {"features": torch.from_numpy(np.array(gate.fit_features, np.float32)),  # a copy: stores are read-only maps
                "labels": torch.from_numpy(np.array(gate.fit_labels, np.int64))}
    else:
        rows = {"features": torch.zeros(0, 0), "labels": torch.zeros(0, dtype=torch.int64)}
    with atomic_path(out / "gate_fit.pt") as tmp:
        with open(tmp, "wb") as fh:  # a file object: the same bytes on every write (see save_head)
            torch.save({"format": GATE_FIT_FORMAT, **rows}, fh)
    content = {
        "format": FORMAT,
        "config_sha256": config_hash,
        "tasks": tasks,
        "gate": {"model": "heads/gate.pt", "fit_rows": "gate_fit.pt", "run": gate.run,
                 "feature_set": feature_set_key(gate.feature_set), "head": gate.head, "detector": gate.detector,
                 "base_detector": gate.detector_class, "params": gate.params, "threshold": float(gate.threshold), "n_fit_rows": int(len(rows["labels"])),
                 "selection": gate.selection},
        "feature_sets": dict(feature_sets),
        "features": features,
        "segmenter": segmenter,
        "malignancy_of_class": dict(malignancy_of_class),
        **(extra or {}),
    }
    loaded = [spec["model"] for spec in tasks.values()] + ["heads/gate.pt", "gate_fit.pt"]
    content["files"] = {name: file_digest(out / name) for name in loaded}
    write_json(content, out / BUNDLE_FILE)
    log.info("wrote %s: heads %s, gate %s/%s at %.4g", out / BUNDLE_FILE,
             {t: feature_set_key(s.feature_set) for t, s in heads.items()}, gate.head, gate.detector, gate.threshold)
    return content


@dataclass
class Bundle:
    root: Path
    content: dict
    heads: dict[str, HeadModel]
    gate_model: HeadModel
    detector: Any
    encoders: dict[str, dict]  # feature-set key -> encoder config with the checked checkpoint path

    @property
    def gate(self) -> dict:
        return self.content["gate"]


def load_bundle(bundle_dir: str | Path, checkpoints: Mapping[str, str | Path] | None = None) -> Bundle:
    """Read a bundle, check its files against the sizes and sha256s of bundle.json and every encoder file against
    its sha256, and refit the gate.
    ``checkpoints``: {encoder name: file} for encoders whose recorded path is not reachable from here."""
    root = Path(bundle_dir)
    path = root / BUNDLE_FILE
    if not path.is_file():
        raise BundleError(f"{path}: no model bundle here (the study's bundle_models rule writes results/models/)")
    content = read_json(path)
    if content.get("format") != FORMAT:
        raise BundleError(f"{path}: format {content.get('format')!r}, this samderm reads {FORMAT!r}")
    rebuild = (f"Rebuild the bundle: delete {path} and run the study again with the same snakemake command "
               f"(Snakemake then reruns bundle_models), e.g. rm {path} && snakemake --profile slurm; "
               "or copy the bundle again from the study that wrote it")

    def checked(name: str) -> Path:  # every file it loads has the size and sha256 bundle.json recorded
        check_digest(root / name, content.get("files", {}).get(name), path, rebuild, error=BundleError)
        return root / name

    heads = {task: load_head(checked(spec["model"]), verified=True) for task, spec in content["tasks"].items()}
    gate_spec = content["gate"]
    gate_model = load_head(checked(gate_spec["model"]), verified=True)
    fit = torch.load(checked(gate_spec["fit_rows"]), map_location="cpu", weights_only=True)
    if fit.get("format") != GATE_FIT_FORMAT:
        raise BundleError(f"{root / gate_spec['fit_rows']}: not the gate's fit rows ({GATE_FIT_FORMAT})")
    detector = DETECTORS[gate_spec.get("base_detector", gate_spec["detector"])](**gate_params(gate_spec)).fit(
        fit["features"].numpy(), fit["labels"].numpy(), HeadReadout(gate_model, gate_spec["head"]))
    checkpoints = {k: Path(v) for k, v in (checkpoints or {}).items()}
    encoders = {key: checked_encoder(fs, root, checkpoints) for key, fs in content["feature_sets"].items()}
    if content.get("segmenter"):
        seg = content["segmenter"]
        seg["encoder_config"] = checked_encoder(seg, root, checkpoints)
    return Bundle(root, content, heads, gate_model, detector, encoders)


def weights_terms(bundle_dir: str | Path) -> dict[str, str]:
    """Encoder -> its weights' licence (and ", gated"), as the bundle recorded them from the study's config."""
    content = read_json(Path(bundle_dir) / BUNDLE_FILE)
    terms = {}
    for entry in content["feature_sets"].values():
        licence = entry.get("licence", "not recorded (bundle written before licences were)")
        terms[entry["encoder"]] = licence + (", gated" if entry.get("gated") else "")
    return terms


def gate_params(gate_spec: Mapping[str, Any]) -> dict:
    """The gate detector's constructor arguments; bundles written before ``base_detector`` and the covariance
    estimator were recorded used Ledoit-Wolf, the Mahalanobis detectors' default then."""
    params = dict(gate_spec["params"])
    legacy = "base_detector" not in gate_spec and gate_spec["detector"] in LEGACY_LEDOIT_WOLF
    if legacy and "covariance" not in params:
        log.warning("bundle gate %s records no covariance estimator: using ledoit_wolf, as when it was written",
                    gate_spec["detector"])
        params["covariance"] = "ledoit_wolf"
    return params


def checked_encoder(entry: Mapping[str, Any], root: Path, checkpoints: Mapping[str, Path]) -> dict:
    """The entry's encoder config with its checkpoint file found and its sha256 equal to the bundle's."""
    name, cfg = entry["encoder"], dict(entry["encoder_config"])
    expected = entry.get("checkpoint_sha256")
    given = checkpoints.get(name)
    if entry.get("random_weights") or (cfg.get("checkpoint") is None and given is None):
        if given is not None:
            raise BundleError(f"{root / BUNDLE_FILE}: encoder {name} was random weights (seed "
                              f"{entry.get('random_seed')}) in the study, but the file {given} was given; refusing")
        return cfg
    if given is None and Path(cfg["checkpoint"]).is_dir():  # a transformers snapshot: its family checks each file
        return cfg
    candidates = [given] if given is not None else [Path(cfg["checkpoint"]), root / "checkpoints" / Path(cfg["checkpoint"]).name]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise BundleError(f"encoder {name}: checkpoint not found at {', '.join(map(str, candidates))}; "
                          f"give it with --checkpoint {name}=FILE (sha256 {expected})")
    try:
        verify_sha256(found, expected)
    except CheckpointError as err:
        raise BundleError(f"{found}: refused for encoder {name} of the bundle {root}: {err}") from None
    return {**cfg, "checkpoint": str(found), "sha256": expected}
