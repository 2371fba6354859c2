"""External test sources in the manifest: each ``data.sources`` entry's images as ``external`` rows mapped
to the study's classes, grouped by patient or lesion, and taken out of the test side (``excluded``,
counted, listed) where they share an image or a lesion with a source the heads learn from.

HAM10000 is part of ISIC 2019's training images (same ISIC ids and lesion ids), and public sets are
re-posted resized or re-encoded, so the check runs three ways: the image id, the lesion id, and the
perceptual hash within ``data.near_duplicate_bits`` bits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from samderm.data.labels import LabelMap
from samderm.data.metadata import subject_metadata
from samderm.data.near_duplicates import near_pairs_between
from samderm.data.sources.read import mapping_of
from samderm.data.sources.taxonomy import MAPPED, UNLABELLED, UNMAPPED, apply_mapping

log = logging.getLogger(__name__)

EXTERNAL = "external"
SPLIT_CHOICES = ("all", "test")          # data.sources.<name>.split: every image, or the official test split
GROUP_CHOICES = ("patient", "lesion")    # data.sources.<name>.groups: what its intervals resample
TRAINING_SOURCES = ("lesion", "not_skin", "unlabeled")  # what heads learn from (unlabeled: semi-supervised)
OVERLAP_COLUMNS = ["image_id", "dataset", "match", "twin_id", "twin_source", "bits"]


def external_image_id(name: str, image_id: str) -> str:
    """Manifest ids ``{name}__{the data set's id}``: HAM10000's ISIC ids must not collide with ISIC 2019's."""
    return f"{name}__{image_id}"


def _choice(cfg: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str, name: str) -> str:
    value = cfg.get(key) or default
    if value not in choices:
        raise ValueError(f"data.sources.{name}.{key}: must be one of {list(choices)}, got {value!r}")
    return value


def external_rows(name: str, table: pd.DataFrame, cfg: Mapping[str, Any], labels: LabelMap, make_row) -> list[dict[str, str]]:
    """Manifest rows (built by ``make_row(image_id, path, source, **fields)``) for one source's table.

    ok: a mapped image (``lesion_class``, ``malignancy``), or under ``unmapped: near_ood`` an unmapped one
    (no lesion class, ``category`` ``{name}:{label}``); excluded: unmapped under ``exclude``, outside the
    official test split under ``split: test``, or a file the labels do not list; rejected: a listed image
    without a file. ``group_id`` is the patient (``groups: patient``, where the data set gives one) or the lesion.
    """
    unmapped = _choice(cfg, "unmapped", tuple(UNMAPPED), "exclude", name)
    split = _choice(cfg, "split", SPLIT_CHOICES, "all", name)
    groups = _choice(cfg, "groups", GROUP_CHOICES, "patient", name)
    try:
        table, _ = apply_mapping(table, mapping_of(name, cfg), unmapped, labels.classes)
    except ValueError as err:
        raise ValueError(f"data.sources.{name}.mapping: {err}") from None
    if split == "test" and not (table["official_split"] == "test").any():
        raise ValueError(f"data.sources.{name}.split: test, but {name} marks no image as its official test split")
    rows = []
    for r, record in zip(table.itertuples(index=False), table.to_dict("records")):
        group = r.patient_id if groups == "patient" and r.patient_id else r.lesion_id
        row = make_row(external_image_id(name, r.image_id), r.path, EXTERNAL, dataset=name, original_label=r.original_label,
                       lesion_id=r.lesion_id, patient_id=r.patient_id, group_id=group,
                       **subject_metadata(record, prefix="meta_"))
        if not r.path:
            row.update(status="rejected", reason=f"{name}: listed with label {r.original_label!r} but no image file")
        elif r.mapping == UNLABELLED:
            row.update(status="excluded", reason=f"{name}: image file not listed in its labels")
        elif split == "test" and r.official_split != "test":
            row.update(status="excluded", reason=f"{name}: official split {r.official_split or 'none'}, not test "
                                                 f"(data.sources.{name}.split: test)")
        elif r.mapping == MAPPED:
            row.update(lesion_class=r.lesion_class, malignancy=labels.malignancy.get(r.lesion_class, ""))
        elif r.mapping == UNMAPPED["near_ood"]:
            row.update(category=f"{name}:{r.original_label}")
        else:
            row.update(status="excluded", reason=f"{name}: class {r.original_label!r} has no mapping "
                                                 f"(data.sources.{name}.mapping; unmapped: exclude)")
        rows.append(row)
    log.info("%s: %d images, %d ok (%s groups)", name, len(rows), sum(r["status"] == "ok" for r in rows), groups)
    return rows


def _bare_id(image_id: str) -> str:
    """The data set's own image name: no source prefix, folder or file suffix (ISIC_0024306)."""
    return Path(image_id.rsplit("__", 1)[-1]).stem


def training_overlap(manifest: pd.DataFrame, max_bits: int | None) -> pd.DataFrame:
    """``OVERLAP_COLUMNS`` for every ok external row that shares an image id, a lesion id or (``max_bits``
    set) a near-duplicate image with an ok row of a source the heads learn from; one row per external
    image, the first match by id, then lesion, then hash (closest twin)."""
    ok = manifest["status"] == "ok"
    ext = manifest[ok & (manifest["source"] == EXTERNAL)]
    train = manifest[ok & manifest["source"].isin(TRAINING_SOURCES)]
    found: dict[str, dict[str, Any]] = {}

    def add(index: list, match: str, twins: list, bits: list) -> None:
        for i, twin, b in zip(index, twins, bits):
            image = ext.loc[i, "image_id"]
            if image not in found:
                found[image] = {"image_id": image, "dataset": ext.loc[i, "dataset"], "match": match,
                                "twin_id": train.loc[twin, "image_id"], "twin_source": train.loc[twin, "source"], "bits": b}

    by_id = pd.Series(train.index, index=train["image_id"].map(_bare_id)).groupby(level=0).first()
    hits = ext["image_id"].map(_bare_id).map(by_id).dropna()
    add(list(hits.index), "image_id", list(hits.astype(int)), [""] * len(hits))
    real_lesions = train[~train["lesion_id"].str.startswith("solo_")]
    by_lesion = pd.Series(real_lesions.index, index=real_lesions["lesion_id"]).groupby(level=0).first()
    hits = ext["lesion_id"].map(by_lesion).dropna()
    add(list(hits.index), "lesion_id", list(hits.astype(int)), [""] * len(hits))
    if max_bits is not None:
        queries, references = ext[ext["phash"] != ""], train[train["phash"] != ""]
        pairs = near_pairs_between(queries["phash"].tolist(), references["phash"].tolist(), max_bits).sort_values(["bits", "reference"])
        pairs = pairs.drop_duplicates("query")
        add(list(queries.index[pairs["query"]]), "phash", list(references.index[pairs["reference"]]), pairs["bits"].tolist())
    return pd.DataFrame(list(found.values()), columns=OVERLAP_COLUMNS)


def exclude_training_overlap(manifest: pd.DataFrame, max_bits: int | None) -> pd.DataFrame:
    """Mark every external image found by ``training_overlap`` excluded (in place), naming its twin;
    return the overlap table."""
    overlap = training_overlap(manifest, max_bits)
    rows = manifest.index[manifest["image_id"].isin(overlap["image_id"])]
    twins = overlap.set_index("image_id")
    for i in rows:
        o = twins.loc[manifest.at[i, "image_id"]]
        how = {"image_id": "the same image id as", "lesion_id": "the same lesion as",
               "phash": f"a near-duplicate ({o['bits']} bits) of"}[o["match"]]
        manifest.loc[i, ["status", "reason"]] = ["excluded", f"{how} {o['twin_source']} image {o['twin_id']}, "
                                                             "which the heads may learn from: removed from the test side"]
    if len(overlap):
        log.warning("external sources: %d image(s) also in a training source removed from the test side:\n%s",
                    len(overlap), overlap.groupby(["dataset", "match"]).size().to_string())
    return overlap
