"""One configured source (``data.sources.<name>``) read by its adapter into ``SOURCE_COLUMNS`` + ``meta_*``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from samderm.data.sources.ham10000 import read_ham10000
from samderm.data.sources.isic2019_test import read_isic2019_test
from samderm.data.sources.labelled_folder import read_labelled_folder
from samderm.data.sources.pad_ufes20 import read_pad_ufes20
from samderm.data.sources.taxonomy import DEFAULT_MAPPINGS
from samderm.io import write_tsv

log = logging.getLogger(__name__)

# adapters that read a published data set's official layout under ``root``
OFFICIAL = {"ham10000": read_ham10000, "pad_ufes20": read_pad_ufes20, "isic2019_test": read_isic2019_test}
LABELLED_FOLDER = "labelled_folder"
ADAPTERS = (*OFFICIAL, LABELLED_FOLDER)


def configured_sources(data: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``data.sources`` (of the ``data`` section) without its null entries (an overlay config removes a source
    by nulling it)."""
    return {name: cfg for name, cfg in (data.get("sources") or {}).items() if cfg is not None}


def source_files(name: str, cfg: Mapping[str, Any]) -> dict[str, str]:
    """The files a source is read from: ``{root}`` for a published data set, ``{images, labels}`` for a
    labelled folder; every missing key is named."""
    where = f"data.sources.{name}"
    adapter = cfg.get("adapter")
    if adapter not in ADAPTERS:
        raise ValueError(f"{where}.adapter: must be one of {list(ADAPTERS)}, got {adapter!r}")
    keys = ("images", "labels") if adapter == LABELLED_FOLDER else ("root",)
    missing = [k for k in keys if not cfg.get(k)]
    if missing:
        raise ValueError(f"{where}: adapter {adapter} needs {', '.join(f'{where}.{k}' for k in missing)}")
    if adapter == LABELLED_FOLDER and not (cfg.get("columns") or {}).get("label"):
        raise ValueError(f"{where}.columns: must name the CSV's image and label columns, e.g. {{image: DDI_file, label: disease}}")
    return {k: str(cfg[k]) for k in keys}


def mapping_of(name: str, cfg: Mapping[str, Any]) -> dict[str, str]:
    """``data.sources.<name>.mapping``, else the adapter's documented default (a labelled folder has none)."""
    if cfg.get("mapping") is not None:
        return dict(cfg["mapping"])
    if cfg["adapter"] in DEFAULT_MAPPINGS:
        return dict(DEFAULT_MAPPINGS[cfg["adapter"]])
    raise ValueError(f"data.sources.{name}.mapping: a labelled folder needs one (its label -> a study class)")


def read_source(name: str, cfg: Mapping[str, Any]) -> pd.DataFrame:
    """Every image the source lists or ships, one row each (see ``samderm.data.sources``); ``dataset`` is ``name``."""
    files = source_files(name, cfg)
    if cfg["adapter"] == LABELLED_FOLDER:
        return read_labelled_folder(name, files["images"], files["labels"], cfg["columns"])
    table = OFFICIAL[cfg["adapter"]](Path(files["root"]))
    return table.assign(dataset=name)


def write_source(name: str, cfg: Mapping[str, Any], out: str | Path) -> None:
    """``read_source`` written as TSV (the manifest step maps and checks it), with its counts logged."""
    table = read_source(name, cfg)
    write_tsv(table, out)
    log.info("%s (%s): %d images, %d with a file; labels %s", name, cfg["adapter"], len(table), int((table["path"] != "").sum()),
             table["original_label"].value_counts().to_dict())
