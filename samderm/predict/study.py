"""The bundle of a finished study: per task the best trained run on val (or the run the config names),
the OOD gate of the best lesion run the study scored for OOD, their feature-set settings and the
calibration temperatures; written by the ``bundle_models`` rule."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from samderm.features.encoder import RANDOM_WEIGHTS_SEED
from samderm.features.spec import crop_segmenter, encoder_terms, random_weights, resolve_encoder
from samderm.features.store import load_features, read_store
from samderm.io import read_json, read_tsv
from samderm.matrix import TRAINED_TYPES, Run, expand_matrix, ood_runs
from samderm.ood.pipeline import FeatureLookup
from samderm.ood.registry import detector_spec
from samderm.ood.sets import fit_rows
from samderm.predict.bundle import TASKS, BundleError, GateSpec, HeadSpec, config_sha256, write_bundle
from samderm.report.aggregate import CONFIG_KEYS, RUN_KEYS, read_runs, run_from_dir
from samderm.report.calibration import read_calibration
from samderm.report.selection import SELECTION_SPLIT, select_best

log = logging.getLogger(__name__)


def best_run(tidy: pd.DataFrame, task: str, metric: str) -> tuple[Run, dict]:
    """The configuration chosen on val (select_best), and of its seeds the one with the highest val
    ``metric`` (the lowest seed on ties)."""
    rows = tidy[tidy["task"] == task]
    if rows.empty:
        raise BundleError(f"runs.tsv has no {task} rows among the runs that can be bundled")
    best = select_best(rows, metric).iloc[0]
    mine = rows[(rows[CONFIG_KEYS] == best[CONFIG_KEYS]).all(axis=1) & (rows["split"] == SELECTION_SPLIT)
                & (rows["metric"] == metric)].sort_values(["value", "seed"], ascending=[False, True], kind="stable")
    top = mine.iloc[0]
    run = Run(**{k: top[k] for k in RUN_KEYS[:-2]}, resolution=int(top["resolution"]), seed=int(top["seed"]))
    return run, {"by": f"highest mean {SELECTION_SPLIT} {metric} over seeds, then the best seed",
                 f"val_{metric}": float(mine.iloc[0]["value"])}


def named_run(path: str, key: str) -> tuple[Run, dict]:
    try:
        return run_from_dir(path), {"by": f"named in the config ({key})"}
    except ValueError as err:
        raise BundleError(f"{key}: {err}") from None


def choose_gate(ood_dir: Path, named: Mapping[str, Any]) -> tuple[str, str, dict, float, dict]:
    """(head, detector, hyper-parameters, threshold, why): the named one, else the detector and head
    with the highest val AUROC of their chosen hyper-parameters (first in tuning.tsv on ties)."""
    tuning = read_tsv(ood_dir / "tuning.tsv")
    chosen = tuning[tuning["chosen"].str.lower() == "true"].copy()
    chosen["val_auroc"] = chosen["val_auroc"].astype(float)
    for key in ("head", "detector"):
        if named.get(key):
            chosen = chosen[chosen[key] == named[key]]
    if chosen.empty:
        raise BundleError(f"{ood_dir / 'tuning.tsv'}: no chosen row for predict.gate {dict(named)}")
    row = chosen.sort_values("val_auroc", ascending=False, kind="stable").iloc[0]
    from samderm.ood.tuning import GRIDS

    kinds = {arg: kind for grid in GRIDS.values() for arg, kind in grid.values()}
    params = {k: kinds[k](float(row[k])) for k in kinds if k in row and row[k] != ""}
    gate = read_tsv(ood_dir / "gate.tsv")
    threshold = gate.loc[(gate["head"] == row["head"]) & (gate["detector"] == row["detector"]), "threshold"].astype(float)
    why = {"by": "named in the config (predict.gate)" if named.get("detector") else "highest val AUROC of the chosen "
           "hyper-parameters over the run's heads and detectors", "val_auroc": float(row["val_auroc"])}
    return row["head"], row["detector"], params, float(threshold.iloc[0]), why


def run_temperature(calibration: pd.DataFrame, run: Run, task: str) -> tuple[float | None, str | None]:
    """(temperature, temperature_status) of the run and task in calibration_runs.tsv; (None, None) without a row."""
    rows = calibration[(calibration[RUN_KEYS] == pd.Series(run.as_dict())).all(axis=1) & (calibration["task"] == task)]
    if rows.empty:
        return None, None
    return float(rows["temperature"].iloc[0]), rows["temperature_status"].iloc[0]


def feature_set_entry(config: Mapping[str, Any], run: Run, results: Path) -> dict:
    store = results / "features" / run.feature_set / run.crop / "images"
    settings = read_json(store / "settings.json")
    cfg = resolve_encoder(run.encoder, config["encoders"][run.encoder])
    return {"encoder": run.encoder, "encoder_config": cfg, "pooling": run.pooling, "resolution": run.resolution,
            "crop": run.crop, "dtype": settings["dtype"], "dim": settings["dim"],
            "checkpoint_sha256": settings["checkpoint_sha256"], "random_weights": bool(settings["random_weights"]),
            "random_seed": RANDOM_WEIGHTS_SEED if settings["random_weights"] else None,
            "masks": settings.get("masks"), **encoder_terms(run.encoder, config["encoders"][run.encoder])}


def bundle_study(config: Mapping[str, Any], out_dir: str | Path, results: str | Path = "results") -> dict:
    """Write the study's bundle to ``out_dir`` from its results folder."""
    results = Path(results)
    chosen = (config.get("predict") or {})
    named = chosen.get("models") or {}
    trained = [n for n, a in config["architectures"].items() if a["type"] in TRAINED_TYPES]
    # experiments.<e>.held_out_classes: such runs never saw some lesion classes, so they serve no new image
    held_out = [e for e, x in config["experiments"].items() if x.get("held_out_classes")]
    tidy = read_runs(results / "tables" / "runs.tsv")
    tidy = tidy[tidy["architecture"].isin(trained) & ~tidy["experiment"].isin(held_out)]
    metric = config["report"]["selection_metric"]
    calibration = read_calibration(results / "tables" / "calibration_runs.tsv")
    runs = {t: named_run(named[t], f"predict.models.{t}") if named.get(t) else best_run(tidy, t, metric) for t in TASKS}

    gate_cfg = chosen.get("gate") or {}
    if gate_cfg.get("run"):
        gate_run, gate_why = named_run(gate_cfg["run"], "predict.gate.run")
    else:
        scored = {tuple(r.as_dict()[k] for k in RUN_KEYS) for r in ood_runs(config, expand_matrix(config))}
        gate_run, gate_why = best_run(tidy[[k in scored for k in tidy[RUN_KEYS].itertuples(index=False, name=None)]],
                                      "lesion", metric)
    ood_dir = results / "ood" / gate_run.path
    head, detector, params, threshold, why = choose_gate(ood_dir, gate_cfg)
    gate_detector = detector_spec(detector, config["ood"])  # a variant's fixed arguments are not in tuning.tsv
    for key, run in [*((f"predict.models.{t}", r) for t, (r, _) in runs.items()), ("predict.gate.run", gate_run)]:
        if run.experiment in held_out:
            raise BundleError(f"{key}: experiment {run.experiment} holds out lesion classes "
                              f"{config['experiments'][run.experiment]['held_out_classes']}; bundle a run that saw all")

    heads = {t: HeadSpec(results / "runs" / r.path / "model.pt", r.as_dict(), _fs(r), *run_temperature(calibration, r, t),
                         selection=why_t) for t, (r, why_t) in runs.items()}
    store = results / "features" / gate_run.feature_set / gate_run.crop / "images"
    from samderm.heads import load_head

    classes = load_head(results / "runs" / gate_run.path / "model.pt").tasks[head]
    balancing = config["experiments"][gate_run.experiment]["balancing"]
    manifest = read_tsv(results / "data" / "manifest.tsv")
    manifest = manifest[manifest["status"] == "ok"]
    fit = fit_rows(manifest, read_tsv(results / "data" / "views" / f"{balancing}.tsv"), head, classes)
    view_ids, features = load_features(store)
    gate = GateSpec(results / "runs" / gate_run.path / "model.pt", gate_run.as_dict(), _fs(gate_run), head, detector,
                    gate_detector.arguments(params), threshold,
                    FeatureLookup(view_ids, features, str(store))(fit["image_id"].tolist()),
                    fit["label"].to_numpy(np.int64), {**gate_why, "detector": why}, gate_detector.base)
    used = {*(r for r, _ in runs.values()), gate_run}
    feature_sets = {f"{r.feature_set}/{r.crop}": feature_set_entry(config, r, results) for r in used}
    segmenter = None
    if any(r.crop == "lesion" for r in used):
        lesion_run = next(r for r in used if r.crop == "lesion")
        masks = read_store(results / "features" / lesion_run.feature_set / "lesion" / "images")[2].get("masks") or {}
        name = crop_segmenter(config)
        seg_cfg = name and resolve_encoder(name, config["encoders"][name])
        segmenter = name and {"encoder": name, "encoder_config": seg_cfg,
                              "checkpoint_sha256": masks.get("checkpoint_sha256"),
                              "random_weights": random_weights(seg_cfg),
                              "random_seed": RANDOM_WEIGHTS_SEED, "mask_source": config["features"]["crop"]["mask_source"]}
    features_cfg = {k: config["features"][k] for k in ("batch_size", "dtype", "shard_size")}
    features_cfg["crop"] = {k: v for k, v in config["features"]["crop"].items() if k != "overlays"}
    malignancy = manifest.loc[manifest["source"] == "lesion", ["lesion_class", "malignancy"]].drop_duplicates()
    return write_bundle(out_dir, heads, gate, feature_sets, features_cfg, segmenter,
                        dict(zip(malignancy["lesion_class"], malignancy["malignancy"])), config_sha256(config),
                        {"selection_metric": metric, "selection_split": SELECTION_SPLIT, "ood_tpr": float(config["ood"]["tpr"])})


def _fs(run: Run) -> dict:
    return {"encoder": run.encoder, "pooling": run.pooling, "resolution": run.resolution, "crop": run.crop}
