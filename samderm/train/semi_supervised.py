"""Semi-supervised heads from an unlabeled pool: the run's own supervised model gates the pool
(its skin head and an OOD detector), confident lesion labels (self-training, or label spreading
on the features) are added to the train split, and the heads are retrained.

Only the lesion task (and malignancy, derived from the pseudo lesion class by the labels
config, as the manifest derives it) gets pseudo-labels: the skin head is the gate itself, so
teaching it its own verdicts would only confirm them. Val and test rows are never touched, and a
pool image that is a near-duplicate of a val or test image (the splits' pHash rule) is never labelled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from samderm.data.near_duplicates import near_pairs_between
from samderm.train.data import RunData
from samderm.train.tasks import NO_LABEL

log = logging.getLogger(__name__)

METHODS = ("pseudo_label", "label_spreading")
# the pool gate is fit on the few labelled train images (N near D), where the empirical covariance is close to
# singular and lets noise through; shrinkage keeps it stable (the study's OOD tables use the papers' estimate)
POOL_GATE_SETTINGS = {"mahalanobis": {"covariance": "ledoit_wolf"}, "relative_mahalanobis": {"covariance": "ledoit_wolf"}}
PSEUDO_LABEL = "pseudo_label"  # the outcome of an image that got one
NEAR_DUPLICATE = "near_duplicate_of_val_test"  # a copy of an evaluation image would leak its label into training
# why an unlabeled image got no pseudo-label, in the order they are decided
GATED_OUT = (NEAR_DUPLICATE, "not_skin", "ood", "below_threshold", "over_cap")
COLUMNS = ["image_id", "outcome", "pseudo_label", "confidence", "round", "ood_score", "twin_id"]
EVALUATION_SPLITS = ("val", "test")  # a pool image near one of these is dropped; near a train image it is kept
UNLABELED_SPLIT = "unlabeled"
UNLABELED_SOURCE = "unlabeled"

# fit(data) -> (model, history): one supervised training on the given rows (train_heads, seeded)
FitFn = Callable[[RunData], tuple[Any, pd.DataFrame]]


@dataclass(frozen=True)
class SemiSupervisedSettings:
    """``experiments.<name>.semi_supervised``."""
    method: str
    threshold: float = 0.9
    rounds: int = 1
    max_per_class: int | None = None
    detector: str = "mahalanobis"
    n_neighbors: int = 7
    alpha: float = 0.2

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], where: str = "semi_supervised") -> "SemiSupervisedSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        settings = cls(**cfg)
        if settings.method not in METHODS:
            raise ValueError(f"{where}.method: {settings.method!r} is not one of {list(METHODS)}")
        if not 0 <= settings.threshold <= 1:
            raise ValueError(f"{where}.threshold: must be in [0, 1], got {settings.threshold}")
        if settings.rounds < 1 or (settings.max_per_class is not None and settings.max_per_class < 1):
            raise ValueError(f"{where}: rounds and max_per_class must be >= 1, got {settings.rounds}, {settings.max_per_class}")
        return settings


def unlabeled_pool(manifest: pd.DataFrame, splits: pd.DataFrame) -> list[str]:
    """Ids of the ok ``unlabeled`` manifest rows; an id that splits.tsv puts into any labelled
    split (train, val, test) is an error, never pooled."""
    ids = manifest.loc[(manifest["source"] == UNLABELED_SOURCE) & (manifest["status"] == "ok"), "image_id"]
    split = ids.map(splits.drop_duplicates("image_id").set_index("image_id")["split"])
    wrong = ids[split.fillna(UNLABELED_SPLIT) != UNLABELED_SPLIT]
    if len(wrong):
        raise ValueError(f"splits: {len(wrong)} unlabeled image(s) are in a labelled split, e.g. {wrong.head(5).tolist()}; "
                         "rebuild splits.tsv with make_splits")
    return ids.tolist()


def labelled_twins(manifest: pd.DataFrame, splits: pd.DataFrame, pool_ids: Sequence[str],
                   max_bits: int | None) -> pd.DataFrame:
    """Per pool image (rows in ``pool_ids`` order): ``twin_id`` and ``twin_split`` of its closest
    labelled near-duplicate (pHash within ``max_bits`` bits, the rule that groups the splits), ''
    where none. A val/test twin comes before a train twin (it is the one that drops the image),
    then the fewest bits, then the smallest id. Labelled = every ok row with a split other than
    ``unlabeled`` (OOD val/test rows included)."""
    twins = pd.DataFrame({"twin_id": "", "twin_split": ""}, index=range(len(pool_ids)))
    if max_bits is None or "phash" not in manifest.columns:
        log.warning("semi-supervised: the pool is not checked for near-duplicates of val/test images "
                    "(data.near_duplicate_bits is off, or the manifest has no phash column)")
        return twins
    ok = manifest[manifest["status"] == "ok"]
    phash = ok.drop_duplicates("image_id").set_index("image_id")["phash"]
    split = ok["image_id"].map(splits.drop_duplicates("image_id").set_index("image_id")["split"]).fillna("")
    labelled = ok[(split != "") & (split != UNLABELED_SPLIT) & (ok["phash"] != "")]
    pool_hash = pd.Series(list(pool_ids)).map(phash).fillna("")
    if (pool_hash == "").any():
        log.warning("semi-supervised: %d pool image(s) have no pHash and are not checked for near-duplicates, e.g. %s",
                    int((pool_hash == "").sum()), pd.Series(list(pool_ids))[pool_hash == ""].head(5).tolist())
    hashed = np.flatnonzero(pool_hash != "")
    pairs = near_pairs_between(pool_hash.iloc[hashed].tolist(), labelled["phash"].tolist(), max_bits)
    pairs = pairs.assign(row=hashed[pairs["query"]], twin_id=labelled["image_id"].to_numpy()[pairs["reference"]],
                         twin_split=split.loc[labelled.index].to_numpy()[pairs["reference"]])
    pairs["train_only"] = ~pairs["twin_split"].isin(EVALUATION_SPLITS)  # False sorts first: val/test twins win
    closest = pairs.sort_values(["row", "train_only", "bits", "twin_id"]).drop_duplicates("row")
    twins.loc[closest["row"], ["twin_id", "twin_split"]] = closest[["twin_id", "twin_split"]].to_numpy()
    dropped = twins["twin_split"].isin(EVALUATION_SPLITS)
    log.info("semi-supervised near-duplicates (pHash within %d bits) of %d pool images: %d of a val/test image "
             "(dropped: %s), %d of train images only (kept: no evaluation image is involved)%s", max_bits, len(pool_ids),
             int(dropped.sum()), NEAR_DUPLICATE, int(((twins["twin_id"] != "") & ~dropped).sum()),
             "".join(f"\n  {pool_ids[i]} ~ {twins.at[i, 'twin_id']} ({twins.at[i, 'twin_split']})"
                     for i in np.flatnonzero(dropped)[:20]))
    return twins


def pool_features(view_ids: Sequence[str], features: np.ndarray, pool_ids: Sequence[str]) -> np.ndarray:
    """The feature rows of the pool's images (an image without a row is an error)."""
    position = {v: i for i, v in enumerate(view_ids)}
    missing = [i for i in pool_ids if i not in position]
    if missing:
        raise ValueError(f"feature stores: {len(missing)} unlabeled image(s) have no feature row, e.g. {missing[:5]}")
    return np.ascontiguousarray(np.asarray(features)[[position[i] for i in pool_ids]], dtype=np.float32)


def gate_reasons(not_skin: np.ndarray, ood_scores: np.ndarray, ood_threshold: float) -> np.ndarray:
    """Per pool image '' (may be pseudo-labelled), ``not_skin`` (the skin head says so) or ``ood``
    (score above the gate threshold, the gate's rule: accepted when score <= threshold)."""
    reasons = np.full(len(not_skin), "", dtype=object)
    reasons[np.asarray(ood_scores) > ood_threshold] = "ood"
    reasons[np.asarray(not_skin, dtype=bool)] = "not_skin"
    return reasons


def select_confident(probabilities: np.ndarray, eligible: np.ndarray, threshold: float,
                     room: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label per row, -1 where none; reason per row: '' chosen or not eligible, else
    ``below_threshold`` or ``over_cap``). A row is chosen when eligible, its top probability is at
    least ``threshold``, and its class still has room (``room[c]`` more labels; the most
    confident first, ties by row order)."""
    confidence, label = probabilities.max(axis=1), probabilities.argmax(axis=1)
    chosen = np.full(len(probabilities), NO_LABEL, dtype=np.int64)
    reasons = np.full(len(probabilities), "", dtype=object)
    confident = eligible & (confidence >= threshold)
    reasons[eligible & ~confident] = "below_threshold"
    for c in range(probabilities.shape[1]):
        rows = np.flatnonzero(confident & (label == c))
        rows = rows[np.argsort(-confidence[rows], kind="stable")]
        take = int(max(room[c], 0))
        chosen[rows[:take]] = c
        reasons[rows[take:]] = "over_cap"
    return chosen, reasons


def spread_labels(train_x: np.ndarray, train_y: np.ndarray, pool_x: np.ndarray, n_classes: int,
                  n_neighbors: int = 7, alpha: float = 0.2) -> np.ndarray:
    """(pool rows x classes) label distributions of scikit-learn's LabelSpreading (Zhou et al. 2004),
    knn kernel, on the features standardised by the train rows' mean and sd."""
    from sklearn.semi_supervised import LabelSpreading

    mean, sd = train_x.mean(axis=0), train_x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    x = (np.concatenate([train_x, pool_x]).astype(np.float64) - mean) / sd
    y = np.concatenate([np.asarray(train_y, dtype=np.int64), np.full(len(pool_x), -1)])
    model = LabelSpreading(kernel="knn", n_neighbors=min(n_neighbors, len(x) - 1), alpha=alpha).fit(x, y)
    out = np.zeros((len(pool_x), n_classes))
    out[:, model.classes_[model.classes_ >= 0]] = model.label_distributions_[len(train_x):]
    return out


def with_pseudo_labels(data: RunData, image_ids: Sequence[str], features: np.ndarray, lesion: np.ndarray,
                       malignancy_of: Mapping[int, int]) -> RunData:
    """``data`` plus one train row per pool image with a lesion label (>= 0): that lesion class,
    malignancy ``malignancy_of[lesion]`` (NO_LABEL when the class has none), no skin label."""
    keep = np.flatnonzero(np.asarray(lesion) >= 0)
    labels = np.full((len(keep), len(data.tasks)), NO_LABEL, dtype=np.int64)
    names = list(data.tasks)
    labels[:, names.index("lesion")] = lesion[keep]
    if "malignancy" in names:
        labels[:, names.index("malignancy")] = [malignancy_of.get(int(c), NO_LABEL) for c in lesion[keep]]
    return replace(
        data,
        features=np.concatenate([data.features, np.asarray(features, dtype=np.float32)[keep]]),
        labels=np.concatenate([data.labels, labels]),
        split=np.concatenate([data.split, np.full(len(keep), "train")]),
        image_ids=np.concatenate([data.image_ids, np.asarray(image_ids, dtype=str)[keep]]),
        original=np.concatenate([data.original, np.zeros(len(keep), dtype=bool)]),  # not in predictions.tsv
    )


def malignancy_indices(tasks: Mapping[str, list[str]], malignancy: Mapping[str, str]) -> dict[int, int]:
    """Lesion class index -> malignancy class index, from the labels config's class -> side."""
    if "malignancy" not in tasks:
        return {}
    side = {s: i for i, s in enumerate(tasks["malignancy"])}
    return {i: side[malignancy[c]] for i, c in enumerate(tasks["lesion"]) if malignancy.get(c) in side}


def fit_gate_detector(model, data: RunData, detector: str, tpr: float) -> tuple[Any, float]:
    """(detector fit on the lesion train originals through the model's lesion head, the threshold
    accepting ``tpr`` of the in-distribution val lesions). The detector's defaults, but Ledoit-Wolf
    covariance for the Mahalanobis detectors (POOL_GATE_SETTINGS)."""
    from samderm.ood.gate import gate_threshold
    from samderm.ood.registry import detector_spec
    from samderm.ood.readout import HeadReadout

    lesion = list(data.tasks).index("lesion")
    train, val = data.rows("train", "lesion", originals_only=True), data.rows("val", "lesion", originals_only=True)
    make = detector_spec(detector, POOL_GATE_SETTINGS)
    fitted = make().fit(data.features[train], data.labels[train, lesion], HeadReadout(model, "lesion"))
    return fitted, gate_threshold(fitted.predict(data.features[val]), tpr)


def self_train(data: RunData, pool_ids: Sequence[str], pool_x: np.ndarray, settings: SemiSupervisedSettings,
               fit: FitFn, malignancy_of: Mapping[int, int], tpr: float, twins: pd.DataFrame | None = None
               ) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    """Train supervised, gate the pool, pseudo-label, retrain (``settings.rounds`` times for
    pseudo_label). ``twins`` (``labelled_twins``): a pool image with a val/test twin is dropped
    before the gates. Returns (final model, its history, one row per pool image: COLUMNS)."""
    model, history = fit(data)
    classes = data.tasks["lesion"]
    table = pd.DataFrame({"image_id": list(pool_ids), "outcome": "", "pseudo_label": "", "confidence": np.nan,
                          "round": 0, "ood_score": np.nan, "twin_id": ""})
    if twins is not None:
        table["twin_id"] = twins["twin_id"].to_numpy()
    if len(pool_ids) == 0:
        log.warning("semi-supervised: the unlabeled pool is empty; the supervised model is the result")
        return model, history, table[COLUMNS]
    x = torch.from_numpy(pool_x)
    probabilities = model.predict_proba(x)
    detector, threshold = fit_gate_detector(model, data, settings.detector, tpr)
    table["ood_score"] = detector.predict(pool_x)
    not_skin = (probabilities["skin"].argmax(dim=1) == data.tasks["skin"].index("not_skin")).numpy()
    reasons = gate_reasons(not_skin, table["ood_score"].to_numpy(), threshold)
    if twins is not None:  # leakage is a property of the image: it overrides what the gates say
        reasons[twins["twin_split"].isin(EVALUATION_SPLITS).to_numpy()] = NEAR_DUPLICATE
    log.info("semi-supervised gate (%s, threshold %.4g at in-distribution val recall %g): %d of %d pool images not skin, "
             "%d OOD", settings.detector, threshold, tpr, int((reasons == "not_skin").sum()), len(reasons),
             int((reasons == "ood").sum()))
    labels = np.full(len(pool_ids), NO_LABEL, dtype=np.int64)
    cap = settings.max_per_class if settings.max_per_class is not None else len(pool_ids)
    rounds = settings.rounds if settings.method == "pseudo_label" else 1
    for r in range(1, rounds + 1):
        if settings.method == "pseudo_label":
            lesion_p = model.predict_proba(x)["lesion"].numpy() if r > 1 else probabilities["lesion"].numpy()
        else:
            train = data.rows("train", "lesion", originals_only=True)
            lesion_p = spread_labels(data.features[train], data.labels[train, list(data.tasks).index("lesion")], pool_x,
                                     len(classes), settings.n_neighbors, settings.alpha)
        open_rows = (reasons == "") & (labels == NO_LABEL)
        room = cap - np.bincount(labels[labels >= 0], minlength=len(classes))
        chosen, why = select_confident(lesion_p, open_rows, settings.threshold, room)
        table.loc[open_rows, "confidence"] = lesion_p.max(axis=1)[open_rows]
        table.loc[open_rows, "outcome"] = why[open_rows]
        new = chosen >= 0
        labels[new] = chosen[new]
        table.loc[new, ["outcome", "round"]] = [PSEUDO_LABEL, r]
        table.loc[new, "pseudo_label"] = np.asarray(classes, dtype=object)[chosen[new]]
        log.info("semi-supervised round %d (%s): %d new pseudo-label(s) %s", r, settings.method, int(new.sum()),
                 dict(zip(classes, np.bincount(chosen[new], minlength=len(classes)).tolist())))
        if not new.any():
            break  # nothing new: retraining would reproduce the same model
        model, history = fit(with_pseudo_labels(data, pool_ids, pool_x, labels, malignancy_of))
    table.loc[reasons != "", "outcome"] = reasons[reasons != ""]
    counts = table["outcome"].value_counts().reindex([PSEUDO_LABEL, *GATED_OUT], fill_value=0)
    if int(counts.sum()) != len(table):  # the summary table reads unlabeled = pseudo-labelled + every reason
        raise RuntimeError(f"semi-supervised: outcomes {counts.to_dict()} do not add up to {len(table)} pool images")
    log.info("semi-supervised outcome of %d unlabeled images: %s", len(table), counts.to_dict())
    return model, history, table[COLUMNS]


def semi_supervised_fit(data: RunData, manifest: pd.DataFrame, splits: pd.DataFrame, view_ids: Sequence[str],
                        features: np.ndarray, cfg: Mapping[str, Any], fit: FitFn, tpr: float,
                        near_duplicate_bits: int | None = None) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    """``self_train`` on the run's unlabeled pool (manifest source ``unlabeled``, split ``unlabeled``),
    its near-duplicates of val/test images dropped (``data.near_duplicate_bits``); a pseudo lesion
    class gets the malignancy the manifest gives that class."""
    settings = SemiSupervisedSettings.from_config(cfg, "experiments.<name>.semi_supervised")
    pool_ids = unlabeled_pool(manifest, splits)
    if not pool_ids:
        raise ValueError("experiments.<name>.semi_supervised: the manifest has no ok unlabeled images "
                         "(set data.unlabeled_dir to a folder of images and rebuild the manifest)")
    lesions = manifest.loc[(manifest["source"] == "lesion") & (manifest["malignancy"] != ""), ["lesion_class", "malignancy"]]
    malignancy = dict(zip(lesions["lesion_class"], lesions["malignancy"]))
    log.info("semi-supervised (%s): %d unlabeled images in the pool", settings.method, len(pool_ids))
    return self_train(data, pool_ids, pool_features(view_ids, features, pool_ids), settings, fit,
                      malignancy_indices(data.tasks, malignancy), tpr,
                      labelled_twins(manifest, splits, pool_ids, near_duplicate_bits))


def empty_table() -> pd.DataFrame:
    """semi_supervised.tsv of a supervised run: the header only."""
    return pd.DataFrame(columns=COLUMNS)
