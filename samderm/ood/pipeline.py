"""One run's OOD step: fit, tune and score every detector on every head, then the metrics,
curves and the gate in front of the lesion classifier.

OOD levels (samderm.ood.metrics.LEVEL_ORDER): far and near (semantic OOD), shift (external test sources of the
study's classes under another camera or population, test only) and `all`, which pools far and near only:
shift is never pooled into `all`, so adding an external shift source leaves the `all` numbers as they were."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from samderm.data.splits import SHIFT, ood_protocol
from samderm.io import read_tsv, write_tsv
from samderm.logs import progress
from samderm.ood.end_to_end import (CLASS_COLUMNS, CURVE_COLUMNS, IMAGE_COLUMNS, OUTCOME_COLUMNS, REJECTIONS,
                                    gate_head, images_of_test_split, judge_gate)
from samderm.ood.gate import gate_counts, gate_threshold
from samderm.ood.metrics import (ALL_LEVELS, ID_FLAGGED, LEVEL_ORDER, METRICS, OOD_ACCEPTED, convention, ood_curves,
                                  ood_metrics, pooled_in_all)
from samderm.ood.readout import HeadReadout
from samderm.ood.registry import detector_spec
from samderm.ood.sets import HELD_OUT_PREFIX, eval_rows, fit_rows, require_columns
from samderm.ood.tuning import HYPER_PARAMETERS, INTEGER_PARAMETERS, detector_grid, tune

log = logging.getLogger("samderm.ood")

SCORE_CONVENTION = "score convention: higher = more likely OOD"
# the end-to-end tables (samderm.ood.end_to_end) and their columns after head, detector, threshold
END_TO_END = {"end_to_end_images": ["image_id", "source", "category", "ood_level", "split", "lesion_class", "skin_predicted",
                                 "lesion_predicted", "lesion_probability", "score", "outcome"],
              "end_to_end": OUTCOME_COLUMNS, "class_rejection": CLASS_COLUMNS, "risk_coverage": CURVE_COLUMNS}
METRICS_COLUMNS = ["head", "detector", "params", "split", "metric", "value", "n_id", "n_ood", "protocol", "ood_level"]
TUNING_COLUMNS = ["head", "detector", *HYPER_PARAMETERS, *(f"val_{m}" for m in METRICS),
                  "n_val_id", "n_val_ood", "chosen"]


class FeatureLookup:
    """Feature rows by image id; a missing id is an error naming the store."""

    def __init__(self, view_ids: Sequence[str], features: np.ndarray, store: str):
        self.row = {v: i for i, v in enumerate(view_ids)}
        self.features = features
        self.store = store

    def __call__(self, image_ids: Sequence[str]) -> np.ndarray:
        missing = [i for i in image_ids if i not in self.row]
        if missing:
            raise ValueError(f"{self.store}: no features for {len(missing)} image(s), e.g. {missing[:5]}")
        return np.asarray(self.features[[self.row[i] for i in image_ids]], dtype=np.float32)


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def score_run(model: torch.nn.Module, manifest: pd.DataFrame, splits: pd.DataFrame, views: pd.DataFrame,
              lookup: FeatureLookup, ood: dict[str, Any], names: dict[str, str] | None = None,
              held_out_classes: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """All OOD tables of one run (see docs/internals.md). `model` is a HeadModel
    (forward(x, tasks) -> {task: logits} on raw features); `names` names the input files in errors.
    ``held_out_classes``: lesion classes the run was trained without; their val/test images are near
    OOD (category ``held_out:{class}``), reported on test and never used for tuning."""
    names = {"views": "views", "splits": "splits", **(names or {})}
    if not {"skin", "lesion"} <= set(model.tasks):
        raise ValueError(f"the gate needs the skin and lesion heads, but the model has only {list(model.tasks)}")
    lesion_classes = model.tasks["lesion"]
    trained_on = sorted(set(held_out_classes) & set(lesion_classes))
    if trained_on:
        raise ValueError(f"held_out_classes {trained_on} are outputs of the model's lesion head {lesion_classes}: "
                         "this run was trained on them")
    malignancy = _malignancy_of_classes(manifest)
    model.eval()
    id_recall = float(ood["tpr"])
    protocol = ood_protocol(splits)  # how tuning (val) and test OOD were kept apart
    log.info("OOD protocol: %s", protocol)
    tables: dict[str, list[pd.DataFrame]] = {k: [] for k in ("scores", "metrics", "curves", "gate", "tuning", *END_TO_END)}
    test_images, test_x = _end_to_end_images(model, manifest, splits, lookup, lesion_classes)
    tuning_records = []
    specs = {d: detector_spec(d, ood) for d in ood["detectors"]}  # a bad name or variant fails before any fit
    jobs = [(h, d) for h in ood["heads"] for d in ood["detectors"]]
    sets: dict[str, tuple] = {}
    for head, detector_name in progress(jobs, desc="ood detectors", unit="detector"):
        if head not in model.tasks:
            raise ValueError(f"ood.heads names {head!r}, but the model has only the heads {list(model.tasks)}")
        if head not in sets:
            sets[head] = _head_sets(model, head, manifest, splits, views, lookup, names, held_out_classes)
        fit_args, evaluation, eval_x = sets[head]
        # held-out-class images never tune: open-set practice tunes on known classes and category OOD only
        tunes = ~evaluation["category"].str.startswith(HELD_OUT_PREFIX)
        part = {(s, i): eval_x[((evaluation["split"] == s) & (evaluation["in_distribution"] == i) & tunes).to_numpy()]
                for s in ("val", "test") for i in (True, False)}
        spec = specs[detector_name]
        detector, records = tune(spec, detector_grid(spec.base, ood), fit_args,
                                 part["val", True], part["val", False])
        for record in records:
            tuning_records.append({"head": head, "detector": detector_name, **record,
                                   "n_val_id": len(part["val", True]), "n_val_ood": len(part["val", False])})
        chosen = next(r for r in records if r["chosen"])
        scores = detector.predict(eval_x)
        tables["scores"].append(evaluation[["image_id", "source", "split"]].assign(
            in_distribution=evaluation["in_distribution"].astype(int), head=head, detector=detector_name, score=scores,
            category=evaluation["category"], ood_level=evaluation["ood_level"]))

        is_test, is_id = (evaluation["split"] == "test").to_numpy(), evaluation["in_distribution"].to_numpy()
        test_level = evaluation.loc[is_test, "ood_level"].to_numpy()
        # the gate's `ood` population is the semantic OOD that `all` pools; shift images are a population of their own
        is_shift = (evaluation["ood_level"] == SHIFT).to_numpy() & ~is_id
        is_semantic = ~is_id & ~is_shift
        params = _params_text({**spec.fixed, **{k: v for k, v in chosen.items() if k in HYPER_PARAMETERS}})
        by_level = level_metrics(scores[is_test], test_level)
        tables["metrics"].append(by_level.assign(head=head, detector=detector_name, params=params, split="test",
                                                 protocol=protocol))
        tables["curves"].append(level_curves(scores[is_test], test_level).assign(head=head, detector=detector_name))
        logged = ALL_LEVELS if (by_level["ood_level"] == ALL_LEVELS).any() else by_level["ood_level"].iloc[0]
        metrics = by_level[by_level["ood_level"] == logged].set_index("metric")["value"]

        threshold = gate_threshold(scores[~is_test & is_id], id_recall)
        lesion_test = is_test & is_id & (evaluation["source"] == "lesion").to_numpy()
        populations = [("ood", is_test & is_semantic), ("lesion", lesion_test)]
        if (is_test & is_shift).any():
            populations.append((SHIFT, is_test & is_shift))
        gate = pd.concat([gate_counts(name, scores[mask], _lesion_predictions(model, eval_x[mask], lesion_classes),
                                      threshold, lesion_classes) for name, mask in populations], ignore_index=True)
        gate.insert(0, "head", head)
        gate.insert(1, "detector", detector_name)
        gate.insert(2, "threshold", threshold)
        gate.insert(5, "malignancy", gate["predicted"].map(malignancy).fillna(""))
        tables["gate"].append(gate)
        judged = judge_gate(test_images, _scores_of(test_images, evaluation, scores, detector, test_x), threshold, lesion_classes)
        for name in END_TO_END:
            tables[name].append(judged[name].assign(head=head, detector=detector_name, threshold=threshold))
        rejected = gate.loc[gate["predicted"] == "rejected"].set_index("population")["n_with_gate"]
        log.info("%s head, %s (%s): test AUROC (%s) %.3f, %s %.3f, %s %.3f; gate at %.4g rejects %d/%d OOD and %d/%d lesion test images",
                 head, detector_name, params or "no hyper-parameters", logged, metrics["auroc"], ID_FLAGGED, metrics[ID_FLAGGED],
                 OOD_ACCEPTED, metrics[OOD_ACCEPTED], threshold,
                 rejected["ood"], int((is_test & is_semantic).sum()), rejected["lesion"], int(lesion_test.sum()))
        if SHIFT in rejected:
            log.info("%s head, %s: gate rejects %d/%d shift (external) test images", head, detector_name,
                     rejected[SHIFT], int((is_test & is_shift).sum()))

    out = {k: pd.concat(v, ignore_index=True) for k, v in tables.items() if k != "tuning"}
    out["metrics"] = out["metrics"][METRICS_COLUMNS]
    out["curves"] = out["curves"][["head", "detector", "ood_level", "curve", "x", "y", "threshold"]]
    for name, columns in END_TO_END.items():
        out[name] = out[name][["head", "detector", "threshold", *[c for c in columns if c != "threshold"]]]
    # integer hyper-parameters stay integers beside the empty cells of detectors without them
    out["tuning"] = pd.DataFrame(tuning_records).reindex(columns=TUNING_COLUMNS).astype({p: "Int64" for p in INTEGER_PARAMETERS})
    return out


def _end_to_end_images(model, manifest, splits, lookup, lesion_classes):
    """The test images of every source with what the skin and lesion heads say about them."""
    images = images_of_test_split(manifest, splits, lesion_classes)
    features = lookup(images["image_id"].tolist())
    with torch.no_grad():
        logits = model(torch.as_tensor(features), tasks=["skin", "lesion"])
    lesion = torch.softmax(logits["lesion"], dim=1)
    images["skin_predicted"] = np.asarray(model.tasks["skin"], dtype=object)[logits["skin"].argmax(dim=1).numpy()]
    images["lesion_predicted"] = np.asarray(lesion_classes, dtype=object)[lesion.argmax(dim=1).numpy()]
    images["lesion_probability"] = lesion.max(dim=1).values.numpy().astype(np.float64)
    log.info("end to end: %d test images (%s)", len(images), images.groupby("source").size().to_dict())
    return images[IMAGE_COLUMNS], features


def _scores_of(images, evaluation, scores, detector, features):
    """The detector's scores on every end-to-end test image: the evaluation scores where the head has them
    (the same numbers as scores.tsv), a prediction for the rest (e.g. not_skin images on the lesion head)."""
    known = pd.Series(scores, index=evaluation["image_id"].to_numpy())
    out = np.array(images["image_id"].map(known), dtype=np.float64)
    missing = np.isnan(out)
    if missing.any():
        out[missing] = detector.predict(features[missing])
    return out


def _by_level(scores: np.ndarray, ood_level: np.ndarray):
    """(level, in-distribution scores, that level's OOD scores) for far, near, shift (those present) and all:
    in-distribution test images have an empty ``ood_level``. `all` pools the OOD images of every level but
    shift (``samderm.ood.metrics.pooled_in_all``), and is left out when there are none."""
    ood_level = np.asarray(ood_level, dtype=object).astype(str)
    is_id, pooled = ood_level == "", pooled_in_all(ood_level)
    for level in [lv for lv in LEVEL_ORDER[:-1] if (ood_level == lv).any()] + ([ALL_LEVELS] if pooled.any() else []):
        yield level, scores[is_id], scores[pooled] if level == ALL_LEVELS else scores[ood_level == level]


def level_metrics(scores: np.ndarray, ood_level: np.ndarray) -> pd.DataFrame:
    """The metrics of the test scores against each level's OOD images and against the semantic ones pooled
    (`all`: far + near, never shift): ``ood_level, metric, value, n_id, n_ood``."""
    frames = []
    for level, id_scores, ood_scores in _by_level(scores, ood_level):
        metrics = ood_metrics(id_scores, ood_scores)
        frames.append(pd.DataFrame({"ood_level": level, "metric": list(metrics), "value": list(metrics.values()),
                                    "n_id": len(id_scores), "n_ood": len(ood_scores)}))
    return pd.concat(frames, ignore_index=True)


def level_curves(scores: np.ndarray, ood_level: np.ndarray) -> pd.DataFrame:
    """The ROC and precision-recall points of each level, as ``level_metrics`` splits them: ``ood_level,
    curve, x, y, threshold``."""
    return pd.concat([ood_curves(id_scores, ood_scores).assign(ood_level=level)
                      for level, id_scores, ood_scores in _by_level(scores, ood_level)], ignore_index=True)


def _head_sets(model, head, manifest, splits, views, lookup, names, held_out_classes=()):
    classes = model.tasks[head]
    fit = fit_rows(manifest, views, head, classes, names["views"], held_out_classes)
    evaluation = eval_rows(manifest, splits, head, names["splits"], held_out_classes)
    n_copies = int(((views["split"] == "train") & (views["copy"].astype(int) > 0)).sum())
    counts = evaluation.groupby(["split", "in_distribution"]).size().to_dict()
    log.info("%s head: fit on %d original train images (%d augmented train copies not used: not in the images store); "
             "val %d in-distribution / %d OOD, test %d in-distribution / %d OOD", head, len(fit), n_copies,
             counts.get(("val", True), 0), counts.get(("val", False), 0), counts.get(("test", True), 0), counts.get(("test", False), 0))
    for split in ("val", "test"):
        for in_distribution in (True, False):
            if not counts.get((split, in_distribution)):
                raise ValueError(f"{names['splits']}: the {head} head has no {'in-distribution' if in_distribution else 'OOD'} "
                                 f"images in {split}; OOD tuning and reporting need both")

    fit_args = (lookup(fit["image_id"].tolist()), fit["label"].to_numpy(), HeadReadout(model, head))
    return fit_args, evaluation, lookup(evaluation["image_id"].tolist())


@torch.no_grad()
def _lesion_predictions(model, features: np.ndarray, classes: list[str]) -> np.ndarray:
    if len(features) == 0:
        return np.array([], dtype=object)
    logits = model(torch.as_tensor(features), tasks=["lesion"])["lesion"]
    return np.asarray(classes, dtype=object)[logits.argmax(dim=1).numpy()]


def _malignancy_of_classes(manifest: pd.DataFrame) -> dict[str, str]:
    """lesion_class -> malignancy as the manifest labelled them (one source of truth)."""
    lesions = manifest.loc[manifest["source"] == "lesion", ["lesion_class", "malignancy"]].drop_duplicates()
    return dict(zip(lesions["lesion_class"], lesions["malignancy"]))


def run_ood(model_path: str | Path, manifest_path: str | Path, splits_path: str | Path, views_path: str | Path,
            feature_files: Sequence[str | Path], ood: dict[str, Any], outputs: dict[str, str | Path],
            held_out_classes: Sequence[str] = ()) -> None:
    """The `ood_scores` step: read the inputs, score, write scores/metrics/curves/gate/tuning TSVs."""
    from samderm.features.store import load_features
    from samderm.heads import load_head

    store_dirs = list(dict.fromkeys(str(Path(f).parent) for f in feature_files))
    view_ids, features = load_features(store_dirs)
    manifest = read_tsv(manifest_path)
    require_columns(manifest, ["image_id", "source", "lesion_class", "malignancy", "status"], str(manifest_path))
    manifest = manifest[manifest["status"] == "ok"]
    log.info("loaded %d feature rows from %s; %d ok manifest rows", len(view_ids), ", ".join(store_dirs), len(manifest))
    tables = score_run(load_head(model_path), manifest, read_tsv(splits_path), read_tsv(views_path),
                       FeatureLookup(view_ids, features, ", ".join(store_dirs)), ood,
                       names={"views": str(views_path), "splits": str(splits_path)}, held_out_classes=held_out_classes)
    comment = convention()
    write_tsv(tables["scores"], outputs["scores"], SCORE_CONVENTION)
    write_tsv(tables["metrics"], outputs["metrics"], comment + "; reported on the test split, hyper-parameters chosen on val; "
              "ood_level: the OOD images of one level (far, near; shift = external images of the study's classes "
              "under another camera or population) or all = far and near pooled (shift never pooled)")
    write_tsv(tables["curves"], outputs["curves"], comment + "; test split; roc: x = FPR, y = TPR; pr: x = recall, y = precision")
    write_tsv(tables["gate"], outputs["gate"], f"{SCORE_CONVENTION}; an image is rejected when its score > threshold, the "
              f"threshold accepting {float(ood['tpr']):g} of the head's in-distribution val images; "
              "test split; predicted = the lesion head's class; population ood = far and near OOD, shift = external "
              "shift images, lesion = in-distribution lesions")
    write_tsv(tables["tuning"], outputs["tuning"], comment + "; chosen = highest val AUROC (first in grid order on ties)")
    gate_rule = (f"{SCORE_CONVENTION}; test split; each image once per (head, detector): {REJECTIONS[0]} when the skin "
                 f"head calls it not_skin, else {REJECTIONS[1]} when score > threshold (the threshold accepting "
                 f"{float(ood['tpr']):g} of the head's in-distribution val images; ties accepted), else the lesion head's class")
    write_tsv(tables["end_to_end"], outputs["end_to_end"], gate_rule + "; n = images of the group with this outcome; "
              "accuracy_accepted, balanced_accuracy_accepted = the lesion head on the group's accepted labelled images "
              "(in-distribution lesions, shift images; empty otherwise)")
    # per image only for the gating head (what the report shows): the file is as long as scores.tsv otherwise
    images = tables["end_to_end_images"]
    write_tsv(images[images["head"] == gate_head(ood["heads"])], outputs["end_to_end_images"],
              gate_rule + "; one row per image and detector of the gating head")
    write_tsv(tables["class_rejection"], outputs["class_rejection"], gate_rule + "; in-distribution test lesions by true class")
    write_tsv(tables["risk_coverage"], outputs["risk_coverage"], f"{SCORE_CONVENTION}; test split, in-distribution lesions "
              "accepted when score <= max_score (skin head not applied), threshold = the gate's; risk = error rate of the lesion head on the "
              "accepted; aurc = area under the risk-coverage curve (sum of risk x coverage step)")
    log.info("wrote %d scores, %d metrics, %d curve points, %d gate rows, %d tuning rows, %d end-to-end rows, "
             "%d class rejection rows, %d risk-coverage points",
             *(len(tables[k]) for k in ("scores", "metrics", "curves", "gate", "tuning", "end_to_end", "class_rejection",
                                        "risk_coverage")))
