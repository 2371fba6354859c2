"""The manifest: one row per image file found or listed, with its labels and status.

found = used + rejected + excluded for every source; nothing is dropped without a row.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from samderm.data import isic
from samderm.data.external import EXTERNAL, exclude_training_overlap, external_rows
from samderm.data.folders import check_disjoint, folder_image_id, scan_images
from samderm.data.images import BadImageError, load_rgb
from samderm.data.labels import UNK, LabelMap, label_map
from samderm.data.metadata import METADATA_COLUMNS
from samderm.data.near_duplicates import merged_group_counts, near_duplicate_groups, perceptual_hash
from samderm.io import read_tsv, write_tsv
from samderm.logs import progress

log = logging.getLogger(__name__)

# group_id: the split group, lesion_id merged with near-duplicates; phash: its perceptual hash;
# dataset, original_label, patient_id: of external test sources (data.sources), empty for the others;
# sex, age, site, fitzpatrick: who is in the picture (samderm.data.metadata), "" where unknown
COLUMNS = ["image_id", "path", "source", "lesion_class", "malignancy", "lesion_id", "status", "reason", "mask_path",
           "category", "group_id", "phash", "dataset", "original_label", "patient_id", *METADATA_COLUMNS]
# unlabeled: data.unlabeled_dir, semi-supervised only; external: data.sources, test only
SOURCES = ("lesion", "not_skin", "ood", "unlabeled", EXTERNAL)
TUNING_OOD_PREFIX = "ood_tune"  # image ids of data.ood_tune_dir: ood_tune__{relative path}
BAD_IMAGE_POLICIES = ("fail", "skip")


class BadInputError(ValueError):
    """Raised under ``bad_images: fail``; the message lists every bad file and why."""


def _row(image_id: str, path: Path | str | None, source: str, **fields: str) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(image_id=image_id, path=str(path or ""), source=source, lesion_id=f"solo_{image_id}", status="ok")
    row.update(fields)
    return row


def _files_by_id(paths: list[Path], id_of) -> tuple[dict[str, Path], dict[str, str]]:
    """(id -> path, id -> reason) where two files with one id are both unusable."""
    groups: dict[str, list[Path]] = {}
    for p in paths:
        groups.setdefault(id_of(p), []).append(p)
    single = {i: ps[0] for i, ps in groups.items() if len(ps) == 1}
    clashes = {i: "several files for one image id: " + ", ".join(p.name for p in ps) for i, ps in groups.items() if len(ps) > 1}
    return single, clashes


def lesion_rows(gt_path: Path, meta_path: Path, folder: Path, labels: LabelMap, masks_dir: Path | None) -> list[dict[str, str]]:
    """Rows for the ISIC 2019 files, before any image is decoded."""
    classes, gt_problems = isic.read_ground_truth(gt_path)
    lesion_ids, meta_problems = isic.read_metadata(meta_path)
    subjects = isic.read_subjects(meta_path)
    images, others = scan_images(folder)
    if others:
        log.info("%s: %d non-image file(s) not used: %s", folder, len(others), ", ".join(p.name for p in others[:10]))
    files, file_problems = _files_by_id(images, lambda p: p.stem)
    listed = set(classes) | set(gt_problems)
    unlisted_meta = set(lesion_ids) - listed
    if unlisted_meta:
        log.info("%s: %d metadata row(s) name images not in %s (ignored)", meta_path, len(unlisted_meta), gt_path.name)

    rows = []
    for image_id in sorted(listed | set(files) | set(file_problems)):
        path = files.get(image_id)
        lesion_id = lesion_ids.get(image_id, "") or f"solo_{image_id}"
        mask = masks_dir / f"{image_id}_mask.png" if masks_dir else None
        row = _row(image_id, path, "lesion", lesion_id=lesion_id, mask_path=str(mask) if mask and mask.is_file() else "",
                   **subjects.get(image_id, {}))
        cls = classes.get(image_id)
        reason = (
            file_problems.get(image_id)
            or gt_problems.get(image_id)
            or meta_problems.get(image_id)
            or (f"file not listed in {gt_path}" if image_id not in listed else "")
            or (f"listed in {gt_path.name} but no image file in {folder}" if path is None else "")
        )
        if reason:
            row.update(status="rejected", reason=reason)
        elif cls not in labels.classes:
            why = "UNK dropped (data.unk: drop)" if cls == UNK else f"class {cls} not in labels.lesion_classes"
            row.update(lesion_class=cls, status="excluded", reason=why)
        else:
            row.update(lesion_class=cls, malignancy=labels.malignancy.get(cls, ""))
        rows.append(row)
    return rows


def folder_category(folder: Path, path: Path) -> str:
    """The first-level subfolder of ``path`` under ``folder``; a file directly in ``folder``
    gets the folder's own name (so a flat folder is one category)."""
    parts = path.relative_to(folder).parts
    return parts[0] if len(parts) > 1 else Path(os.path.abspath(folder)).name


def is_tuning_ood(image_ids: pd.Series) -> pd.Series:
    """Which image ids come from data.ood_tune_dir."""
    return image_ids.str.startswith(f"{TUNING_OOD_PREFIX}__")


def folder_rows(folder: Path, source: str, images: list[Path], id_prefix: str | None = None) -> list[dict[str, str]]:
    """Rows of a not-skin or OOD folder; ids ``{id_prefix or source}__{relative path}``."""
    files, problems = _files_by_id(images, lambda p: folder_image_id(id_prefix or source, folder, p))
    rows = [_row(i, p, source, category=folder_category(folder, p)) for i, p in files.items()]
    rows += [_row(i, "", source, status="rejected", reason=f"{folder}: {why}") for i, why in problems.items()]
    return sorted(rows, key=lambda r: r["image_id"])


def tuning_ood_rows(tune_dir: Path, not_skin_dir: Path, not_skin: list[Path],
                    ood_dir: Path, ood: list[Path]) -> list[dict[str, str]]:
    """Rows of data.ood_tune_dir: source ``ood``, ids ``ood_tune__{relative path}``; it must
    share no image with the not-skin folder or with the OOD test folder."""
    tune, others = scan_images(tune_dir)
    if others:
        log.info("%s: %d non-image file(s) not used: %s", tune_dir, len(others), ", ".join(p.name for p in others[:10]))
    if not tune:
        raise ValueError(f"data.ood_tune_dir: {tune_dir} holds no image files")
    check_disjoint(not_skin_dir, not_skin, tune_dir, tune)
    check_disjoint(tune_dir, tune, ood_dir, ood, kinds=("OOD tuning (data.ood_tune_dir)", "OOD test (data.ood_dir)"),
                   rule="a detector must never be tuned on a test image")
    return folder_rows(tune_dir, "ood", tune, id_prefix=TUNING_OOD_PREFIX)


def unlabeled_rows(folder: Path, others: Mapping[Path, list[Path]]) -> list[dict[str, str]]:
    """Rows of data.unlabeled_dir (source ``unlabeled``, no labels); it must share no image with
    the not-skin and OOD folders, whose images are labelled by their folder."""
    images, non_images = scan_images(folder)
    if non_images:
        log.info("%s: %d non-image file(s) not used: %s", folder, len(non_images), ", ".join(p.name for p in non_images[:10]))
    if not images:
        raise ValueError(f"data.unlabeled_dir: {folder} holds no image files")
    labelled = [p for paths in others.values() for p in paths]
    check_disjoint(" and ".join(map(str, others)), labelled, folder, images, kinds=("not-skin or OOD", "unlabeled"),
                   rule="an image cannot be both labelled and unlabeled")
    return folder_rows(folder, "unlabeled", images)


def _decode(path: str, hash_image: bool) -> tuple[str, str]:
    """(reason it cannot be used or '', its perceptual hash or '')."""
    try:
        image = load_rgb(path)
    except BadImageError as err:
        return err.reason, ""
    return "", perceptual_hash(image) if hash_image else ""


def check_images(rows: list[dict[str, str]], threads: int = 1, hash_images: bool = False) -> None:
    """Fully decode every still-ok image; mark the ones that fail as rejected (in place), and
    with ``hash_images`` fill ``phash`` from the same decode."""
    todo = [r for r in rows if r["status"] == "ok"]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = pool.map(_decode, [r["path"] for r in todo], [hash_images] * len(todo))
        # the bar first in zip(), so it is drained and closes at 100%
        for (reason, phash), row in zip(progress(results, desc="decode images", total=len(todo), unit="img"), todo):
            row["phash"] = phash
            if reason:
                row.update(status="rejected", reason=reason)


def count_sources(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per source (``external:{name}`` per external data set): found = used + rejected + excluded."""
    counts = []
    # the unlabeled row only where data.unlabeled_dir is used, so a supervised study's table is unchanged
    kinds = [(s, manifest["source"] == s) for s in ("lesion", "not_skin", "ood")]
    kinds += [("unlabeled", manifest["source"] == "unlabeled")] if (manifest["source"] == "unlabeled").any() else []
    for name in dict.fromkeys(manifest.loc[manifest["source"] == EXTERNAL, "dataset"]):
        kinds.append((f"{EXTERNAL}:{name}", (manifest["source"] == EXTERNAL) & (manifest["dataset"] == name)))
    for source, rows in kinds:
        status = manifest.loc[rows, "status"]
        counts.append({"source": source, "found": len(status), "used": int((status == "ok").sum()),
                       "rejected": int((status == "rejected").sum()), "excluded": int((status == "excluded").sum())})
    table = pd.DataFrame(counts)
    assert (table["found"] == table["used"] + table["rejected"] + table["excluded"]).all(), "statuses beyond ok/rejected/excluded"
    return table


def build_manifest(*args: Any, **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(manifest, counts) of ``build_manifest_tables``."""
    return build_manifest_tables(*args, **kwargs)[:2]


def build_manifest_tables(
    ground_truth: str | Path,
    metadata: str | Path,
    images: str | Path,
    not_skin_dir: str | Path,
    ood_dir: str | Path,
    labels_cfg: Mapping[str, Any],
    bad_images: str = "fail",
    unk: str = "drop",
    masks_dir: str | Path | None = None,
    threads: int = 1,
    ood_tune_dir: str | Path | None = None,
    near_duplicate_bits: int | None = None,
    unlabeled_dir: str | Path | None = None,
    sources: Mapping[str, tuple[str | Path, Mapping[str, Any]]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scan the ISIC 2019 files, the not-skin and the OOD folder (and external sources); return
    (manifest, counts, the external images removed for overlap with a training source).

    ``masks_dir``: optional folder of ``{image}_mask.png``. ``ood_tune_dir``: optional folder
    of OOD images for tuning only (see ``tuning_ood_rows``). ``bad_images: fail`` raises
    BadInputError naming every bad file; ``skip`` keeps them as ``rejected`` rows.
    ``near_duplicate_bits``: merge lesion groups of images whose pHashes differ in at most
    this many bits into one ``group_id`` (None: group_id = lesion_id).
    ``unlabeled_dir``: optional folder of unlabeled lesion images (source ``unlabeled``, ids
    ``unlabeled__{relative path}``), checked like the others; only semi-supervised runs use them.
    ``sources``: external test sources, ``{name: (the adapter's table (read_source), data.sources.<name>)}``
    (``samderm.data.external``); an image or lesion they share with a training source is excluded.
    """
    if bad_images not in BAD_IMAGE_POLICIES:
        raise ValueError(f"data.bad_images: must be one of {list(BAD_IMAGE_POLICIES)}, got {bad_images!r}")
    labels = label_map(labels_cfg, unk)
    log.info("lesion classes %s; malignancy %s (AK side from labels.ak_side); UNK: %s",
             list(labels.classes), dict(labels.malignancy), unk)
    not_skin_dir, ood_dir = Path(not_skin_dir), Path(ood_dir)
    not_skin, ns_others = scan_images(not_skin_dir)
    ood, ood_others = scan_images(ood_dir)
    for folder, others in ((not_skin_dir, ns_others), (ood_dir, ood_others)):
        if others:
            log.info("%s: %d non-image file(s) not used: %s", folder, len(others), ", ".join(p.name for p in others[:10]))
    check_disjoint(not_skin_dir, not_skin, ood_dir, ood)

    rows = lesion_rows(Path(ground_truth), Path(metadata), Path(images), labels, Path(masks_dir) if masks_dir else None)
    rows += folder_rows(not_skin_dir, "not_skin", not_skin)
    rows += folder_rows(ood_dir, "ood", ood)
    if ood_tune_dir:
        rows += tuning_ood_rows(Path(ood_tune_dir), not_skin_dir, not_skin, ood_dir, ood)
    if unlabeled_dir:
        rows += unlabeled_rows(Path(unlabeled_dir), {not_skin_dir: not_skin, ood_dir: ood})
    for name, (table, cfg) in (sources or {}).items():
        rows += external_rows(name, read_tsv(table) if isinstance(table, (str, Path)) else table, cfg, labels, _row)
    check_images(rows, threads, hash_images=near_duplicate_bits is not None)
    manifest = pd.DataFrame(rows, columns=COLUMNS).fillna("")
    overlap = exclude_training_overlap(manifest, near_duplicate_bits)
    external = manifest["source"] == EXTERNAL
    external_groups = manifest.loc[external, "group_id"]  # patient or lesion, never merged with training groups
    manifest["group_id"], pairs = near_duplicate_groups(manifest, near_duplicate_bits)
    manifest.loc[external, "group_id"] = external_groups
    counts = count_sources(manifest)
    counts["near_duplicate_merges"] = counts["source"].map(merged_group_counts(manifest)).fillna(0).astype(int)
    if len(overlap):  # excluded external images that a training source holds too (cross_source_overlap.tsv)
        counts["cross_source_overlap"] = counts["source"].map(
            overlap.groupby("dataset").size().rename(lambda name: f"{EXTERNAL}:{name}")).fillna(0).astype(int)
    log.info("near-duplicates (pHash within %s bits): %d pair(s) merged %d lesion group(s)%s", near_duplicate_bits,
             len(pairs), int(counts["near_duplicate_merges"].sum()), "".join(f"\n  {p.image_id} ~ {p.twin_id} ({p.bits} bits)" for p in pairs.head(20).itertuples()))
    log.info("manifest counts:\n%s", counts.to_string(index=False))

    bad = manifest[manifest["status"] == "rejected"]
    if len(bad) and bad_images == "fail":
        listing = "\n".join(f"  {r.path or r.image_id}: {r.reason}" for r in bad.itertuples())
        raise BadInputError(
            f"{len(bad)} bad input(s) (data.bad_images: fail; set it to skip to record them "
            f"in rejected.tsv and go on):\n{listing}"
        )
    for r in bad.itertuples():
        log.warning("rejected %s: %s", r.path or r.image_id, r.reason)
    return manifest, counts, overlap


def write_manifest(manifest: pd.DataFrame, counts: pd.DataFrame, manifest_path, rejected_path, counts_path) -> None:
    """manifest.tsv, rejected.tsv (its rejected and excluded rows) and counts.tsv."""
    write_tsv(manifest, manifest_path)
    write_tsv(manifest[manifest["status"] != "ok"], rejected_path)
    write_tsv(counts, counts_path)


def build_manifest_files(outputs: Mapping[str, str | Path], **build_args: Any) -> None:
    """``build_manifest(**build_args)`` written to outputs ``manifest``, ``rejected``, ``counts`` (and
    ``cross_source_overlap``, the external images removed from the test side, when asked)."""
    manifest, counts, overlap = build_manifest_tables(**build_args)
    write_manifest(manifest, counts, outputs["manifest"], outputs["rejected"], outputs["counts"])
    if "cross_source_overlap" in outputs:
        write_tsv(overlap, outputs["cross_source_overlap"])
    if "near_duplicates" in outputs:  # the pairs that merged groups, for a reader to check
        write_tsv(near_duplicate_groups(manifest, build_args.get("near_duplicate_bits"))[1], outputs["near_duplicates"])
