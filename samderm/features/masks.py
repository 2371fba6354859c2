"""The lesion-mask store: every view of a view set segmented ONCE (mask file, else SAM2 prompted
at the centre), reduced to its extent, shared by every encoder's lesion crops.

It depends on the view set, the mask source and the segmenting SAM2 model and resolution only,
never on the encoder that later reads the crops."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pandas as pd
import torch
from PIL import Image

from samderm.features.crops import CentrePromptSegmenter, mask_extent
from samderm.features.dataset import ViewPixels, collate_list
from samderm.features.shards import ShardDir
from samderm.features.spec import resolve_encoder
from samderm.features.runtime import make_loader, package_versions, resolve_device
from samderm.features.viewsets import store_views
from samderm.io import check_digest, file_digest, read_json, read_tsv, write_json, write_tsv
from samderm.logs import progress

log = logging.getLogger(__name__)
MASK_COLUMNS = ["view_id", "width", "height", "mask_pixels", "left", "top", "right", "bottom", "mask_source"]


def segment_lesions(out_dir: str | Path, manifest: str | Path, viewset: str, mask_source: str,
                    segmenter: str, segmenter_cfg: dict, resolution: int, features_cfg: dict,
                    views: str | Path | None = None, threads: int = 1) -> dict:
    """Write ``out_dir``/masks.tsv (one extent per view, store order) and settings.json (with masks.tsv's
    size and sha256 under "files")."""
    if mask_source not in ("auto", "files", "sam2"):
        raise ValueError(f"features.crop.mask_source {mask_source!r}: use auto, files or sam2")
    out_dir = Path(out_dir)
    table = store_views(manifest, viewset, views)
    if table.empty:
        raise ValueError(f"{out_dir}: view set {viewset!r} has no views in {views or manifest}")
    use_files = mask_source in ("auto", "files")
    if mask_source == "files" and (table["mask_path"] == "").any():
        no_mask = table.loc[table["mask_path"] == "", "view_id"].tolist()
        raise ValueError(f"features.crop.mask_source is files but {len(no_mask)} view(s) have no "
                         f"mask_path in the manifest, e.g. {no_mask[:5]}")
    needs_model = mask_source == "sam2" or (mask_source == "auto" and (table["mask_path"] == "").any())
    torch.set_num_threads(max(1, threads))
    device = resolve_device(features_cfg["device"])
    settings = {"viewset": viewset, "mask_source": mask_source, "segmenter": None, "sam2_config": None,
                "resolution": None, "checkpoint_sha256": None, "shard_size": features_cfg["shard_size"],
                "versions": package_versions()}
    model = None
    if needs_model:
        if not segmenter:
            raise ValueError("features.crop.segmenter: views without a mask file need a SAM2 encoder to segment them")
        cfg = resolve_encoder(segmenter, segmenter_cfg)
        settings.update(segmenter=segmenter, sam2_config=cfg.get("config") or cfg.get("size"),
                        resolution=int(resolution))
        if cfg["family"] != "sam2":
            raise ValueError(f"features.crop.segmenter {segmenter!r} is a {cfg['family']} encoder; masks need SAM2")
        from samderm.features.encoder import build_sam2_model

        model, settings["checkpoint_sha256"] = build_sam2_model(
            cfg.get("config") or cfg["size"], resolution, cfg["checkpoint"], cfg["sha256"], device=str(device),
            name=segmenter)
    ids = table["view_id"].tolist()
    shards = ShardDir(out_dir.parent / f"{out_dir.name}.shards", len(ids), features_cfg["shard_size"], settings)
    todo = [r for k, r in enumerate(shards.ranges) if not shards.has(k, "masks.tsv", ids[r.start:r.stop])]
    log.info("lesion masks: %d of %d shards to segment (mask source %s)", len(todo), len(shards.ranges), mask_source)
    segment = CentrePromptSegmenter(model) if model is not None else None
    loader = make_loader(ViewPixels(table, use_files), todo, features_cfg["batch_size"], features_cfg["num_workers"],
                         pin=False, collate=collate_list)
    rows: dict[int, list] = {}
    for batch in progress(loader, "segment lesions", total=len(loader), unit="batch"):
        for i, pixels, mask in batch:
            source = "file" if mask is not None else "sam2"
            if mask is None:
                with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    mask = segment(Image.fromarray(pixels))
            k = i // features_cfg["shard_size"]
            rows.setdefault(k, []).append({"view_id": ids[i], **mask_extent(mask), "mask_source": source})
            if len(rows[k]) == len(shards.ranges[k]):
                shards.save_table(k, "masks.tsv", pd.DataFrame(rows.pop(k), columns=MASK_COLUMNS))
    masks = pd.concat([shards.load_table(k, "masks.tsv") for k in range(len(shards.ranges))], ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_tsv(masks, out_dir / "masks.tsv")
    settings.update(n_views=len(ids), mask_sources=dict(Counter(masks["mask_source"])))
    write_json({**settings, "files": {"masks.tsv": file_digest(out_dir / "masks.tsv")}}, out_dir / "settings.json")
    shards.remove()
    log.info("wrote %s: %d views, masks %s", out_dir, len(ids), settings["mask_sources"])
    return settings


def read_masks(mask_dir: str | Path, view_ids: list[str]) -> tuple[pd.DataFrame, dict]:
    """The extents of ``view_ids`` (in that order) from a mask store, checked against the size and sha256
    recorded when it was written, and its settings (less that record)."""
    mask_dir = Path(mask_dir)
    settings = read_json(mask_dir / "settings.json")
    files = settings.pop("files", {})
    check_digest(mask_dir / "masks.tsv", files.get("masks.tsv"), mask_dir / "settings.json")
    masks = read_tsv(mask_dir / "masks.tsv")
    if masks["view_id"].tolist() != list(view_ids):
        missing = sorted(set(view_ids) - set(masks["view_id"]))
        raise ValueError(f"{mask_dir / 'masks.tsv'} does not hold this store's views in its order"
                         + (f" (missing e.g. {missing[:5]})" if missing else ""))
    return masks, settings
