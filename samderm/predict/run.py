"""Predict new images with a bundle: decode, compute each feature set once, run the gate (skin head,
then the OOD detector against its threshold) and the heads; predictions.tsv, bad_images.tsv, page."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch
from PIL import Image

from samderm.data.folders import IMAGE_SUFFIXES, scan_images
from samderm.data.images import BadImageError, load_rgb
from samderm.features.in_memory import InMemoryFeatures, LesionBoxes
from samderm.features.runtime import resolve_device
from samderm.io import write_json, write_tsv
from samderm.logs import progress
from samderm.metrics.calibration import scaled_probabilities
from samderm.predict.bundle import Bundle, calibration_notes, load_bundle, uncalibrated_reason
from samderm.predict.page import write_page

log = logging.getLogger(__name__)
ACCEPTED, REJECTED = "accepted", "rejected"
NOT_SKIN, OOD = "not_skin", "ood"
BAD_COLUMNS = ["image", "path", "status", "reason"]


def find_images(source: str | Path) -> tuple[list[Path], Path]:
    """The image files to predict (one file, or every image file under a folder) and their root."""
    source = Path(source)
    if source.is_file():
        return [source], source.parent
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such image file or folder")
    images, others = scan_images(source)
    if others:
        log.info("%s: %d file(s) without an image suffix (%s) left out, e.g. %s", source, len(others),
                 " ".join(sorted(IMAGE_SUFFIXES)), others[0])
    return images, source


class Predictor:
    """A loaded bundle with one feature extractor per feature set it uses."""

    def __init__(self, bundle: Bundle, device: str = "cpu", threads: int = 1):
        self.bundle = bundle
        content = bundle.content
        features_cfg = {**content["features"], "device": device, "num_workers": 0}
        self.device = resolve_device(device)
        keys = list(dict.fromkeys([*(t["feature_set"] for t in content["tasks"].values()), bundle.gate["feature_set"]]))
        self.extractors = {}
        for key in keys:
            fs = content["feature_sets"][key]
            spec = {k: fs[k] for k in ("encoder", "pooling", "resolution", "crop")}
            self.extractors[key] = InMemoryFeatures(spec, features_cfg, bundle.encoders[key], threads)
        lesion = any(content["feature_sets"][k]["crop"] == "lesion" for k in keys)
        segmenter = content.get("segmenter") or {}
        self.boxes = LesionBoxes(content["features"]["crop"], segmenter.get("encoder"), segmenter.get("encoder_config"),
                                 self.device) if lesion else None

    def features(self, images: list[Image.Image], masks: list[Path | None]) -> dict[str, np.ndarray]:
        boxes = [self.boxes(image, mask)[0] for image, mask in zip(images, masks)] if self.boxes else None
        return {key: extractor(images, boxes if key.endswith("/lesion") else None)
                for key, extractor in self.extractors.items()}

    @torch.no_grad()
    def table(self, features: dict[str, np.ndarray]) -> pd.DataFrame:
        """One row per image: decision, gate score, each task's probabilities (and calibrated ones)."""
        content, gate = self.bundle.content, self.bundle.gate
        columns: dict[str, np.ndarray] = {}
        for task, spec in content["tasks"].items():
            x = torch.from_numpy(features[spec["feature_set"]])
            p = self.bundle.heads[task].predict_proba(x)[task].numpy().astype(np.float64)
            classes = spec["classes"]
            columns[f"{task}_predicted"] = np.asarray(classes, dtype=object)[p.argmax(axis=1)]
            columns.update({f"{task}_p_{c}": p[:, j] for j, c in enumerate(classes)})
            if uncalibrated_reason(spec) is None:  # a T val could not identify would only saturate
                calibrated = scaled_probabilities(p, float(spec["temperature"]))
                columns.update({f"{task}_cal_p_{c}": calibrated[:, j] for j, c in enumerate(classes)})
        score = self.bundle.detector.predict(features[gate["feature_set"]])
        not_skin = columns["skin_predicted"] == NOT_SKIN
        ood = score > gate["threshold"]
        rejected_by = np.where(not_skin, NOT_SKIN, np.where(ood, OOD, ""))
        head = {"decision": np.where(rejected_by == "", ACCEPTED, REJECTED), "rejected_by": rejected_by,
                "ood_score": score, "ood_threshold": float(gate["threshold"])}
        return pd.DataFrame({**head, **columns})


def predict_images(source: str | Path, bundle_dir: str | Path, out_dir: str | Path,
                   checkpoints: Mapping[str, str | Path] | None = None, masks_dir: str | Path | None = None,
                   device: str = "cpu", threads: int = 1, batch_size: int = 16) -> dict:
    """Write ``out_dir``/predictions.tsv (every image found), bad_images.tsv, counts.json, index.html.
    ``masks_dir``: optional ``{stem}_mask.png`` files, used for lesion crops as the study's mask_source allows."""
    torch.set_num_threads(max(1, int(threads)))
    out = Path(out_dir)
    paths, root = find_images(source)
    predictor = Predictor(load_bundle(bundle_dir, checkpoints), device, threads)
    rows, bad = [], []
    chunks = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    for chunk in progress(chunks, "predict images", total=len(chunks), unit="batch"):
        images, names, masks = [], [], []
        for path in chunk:
            name = path.relative_to(root).as_posix()
            try:
                images.append(load_rgb(path))
            except BadImageError as err:
                bad.append({"image": name, "path": str(path), "status": "rejected", "reason": err.reason})
                continue
            names.append((name, str(path)))
            mask = Path(masks_dir) / f"{path.stem}_mask.png" if masks_dir else None
            masks.append(mask if mask is not None and mask.is_file() else None)
        if not images:
            continue
        table = predictor.table(predictor.features(images, masks))
        table.insert(0, "image", [n for n, _ in names])
        table.insert(1, "path", [p for _, p in names])
        table.insert(2, "status", "ok")
        table.insert(3, "reason", "")
        rows.append(table)
        write_thumbnails(images, range(sum(map(len, rows)) - len(images), sum(map(len, rows))), out / "thumbs")
    predictions = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["image", "path", "status", "reason"])
    bad_table = pd.DataFrame(bad, columns=BAD_COLUMNS)
    counts = {"found": len(paths), "predicted": len(predictions), "bad": len(bad_table),
              "accepted": int((predictions.get("decision", pd.Series(dtype=str)) == ACCEPTED).sum()),
              "rejected_not_skin": int((predictions.get("rejected_by", pd.Series(dtype=str)) == NOT_SKIN).sum()),
              "rejected_ood": int((predictions.get("rejected_by", pd.Series(dtype=str)) == OOD).sum())}
    if counts["found"] != counts["predicted"] + counts["bad"]:
        raise RuntimeError(f"counts do not reconcile: {counts}")
    all_rows = pd.concat([predictions, bad_table], ignore_index=True).fillna("") if len(bad_table) else predictions
    write_tsv(all_rows, out / "predictions.tsv",
              f"bundle {Path(bundle_dir)} ({predictor.bundle.content['config_sha256'][:12]}); "
              "decision: accepted, or rejected by not_skin (skin head) or ood (score > threshold); "
              "status rejected = unreadable file (reason); "
              + "; ".join(f"{task}_cal_p_*: {note}" for task, note in calibration_notes(predictor.bundle.content).items()))
    write_tsv(bad_table, out / "bad_images.tsv")
    write_json(counts, out / "counts.json")
    write_page(out / "index.html", predictions, bad_table, predictor.bundle.content, counts)
    log.info("%s: found %d image file(s) = %d predicted + %d bad; %d accepted, %d rejected as not skin, "
             "%d rejected as OOD", source, counts["found"], counts["predicted"], counts["bad"], counts["accepted"],
             counts["rejected_not_skin"], counts["rejected_ood"])
    return counts


def write_thumbnails(images: list[Image.Image], numbers, folder: Path, size: int = 128) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for image, n in zip(images, numbers):
        thumb = image.copy()
        thumb.thumbnail((size, size))
        thumb.save(folder / f"{n}.jpg", format="JPEG", quality=85)
