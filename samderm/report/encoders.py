"""Which frozen encoder? One row per encoder: its family and feature dimension (from the feature
stores' settings.json), the licence and gating of its weights (from the config), the best lesion
configuration chosen on val and its test macro-F1 and balanced accuracy, and its extraction
throughput read from the extract_features job logs."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.io import read_json
from samderm.report.aggregate import ResultsError
from samderm.report.selection import best_on_test
from samderm.report.style import colour, hatch, new_figure, save_figure, styled
from samderm.report.tables import HEADERS, write_table

log = logging.getLogger(__name__)
REPORTED = ["macro_f1", "balanced_accuracy"]
_STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
# the two lines samderm.features.extract logs around the encoder pass of one store
_START = re.compile(_STAMP + r".*encoder: \d+ of \d+ shards to compute \((\d+) views\)")
_END = re.compile(_STAMP + r".*wrote \S+: \d+ x \d+ ")


def _time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")


def extraction_time(log_path: str | Path) -> tuple[int, float]:
    """(views encoded, seconds) of the last completed attempt in one extract_features log."""
    start = result = None
    for line in Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines():
        if m := _START.match(line):
            start = (_time(m.group(1)), int(m.group(2)))
        elif (m := _END.match(line)) and start:
            result = (start[1], (_time(m.group(1)) - start[0]).total_seconds())
            start = None
    if result is None:
        raise ResultsError(f"{log_path}: no completed encoder pass (no 'encoder: ... views' then 'wrote' line)")
    return result


def encoder_of_log(log_path: str | Path, encoders: Sequence[str]) -> str:
    """The encoder of results/logs/extract_features/{encoder}-{pooling}-r{res}/{crop}/{viewset}.log."""
    feature_set = Path(log_path).parents[1].name
    name = feature_set.rsplit("-", 2)[0]
    if name not in encoders:
        raise ResultsError(f"{log_path}: feature set {feature_set!r} is of no known encoder ({', '.join(encoders)})")
    return name


def throughput(log_paths: Sequence[str | Path], encoders: Sequence[str]) -> pd.DataFrame:
    """Per encoder: views encoded, seconds, images/s over all its stores (idle stores count 0 s)."""
    rows = [(encoder_of_log(p, encoders), *extraction_time(p)) for p in log_paths]
    frame = pd.DataFrame(rows, columns=["encoder", "views", "seconds"]).groupby("encoder", sort=False).sum()
    frame["images_per_s"] = frame["views"] / frame["seconds"].where(frame["seconds"] > 0)
    return frame.reset_index()


def store_facts(settings_files: Sequence[str | Path]) -> pd.DataFrame:
    """Per encoder: family and pooled feature dimension, as its stores recorded them."""
    rows = []
    for path in settings_files:
        settings = read_json(path)
        try:
            rows.append({"encoder": settings["encoder"], "family": settings.get("family", "sam2"),
                         "dim": int(settings["dim"])})
        except KeyError as missing:
            raise ResultsError(f"{path}: no key {missing}") from None
    facts = pd.DataFrame(rows, columns=["encoder", "family", "dim"]).drop_duplicates()
    clash = facts[facts["encoder"].duplicated(keep=False)]
    if not clash.empty and clash.groupby("encoder")["family"].nunique().max() > 1:
        raise ResultsError(f"encoder {clash['encoder'].iloc[0]!r} has stores of different families")
    # several poolings of one encoder: the dimensions listed together
    return facts.groupby("encoder", sort=False).agg(
        family=("family", "first"), dim=("dim", lambda d: "/".join(map(str, sorted(set(d)))))).reset_index()


def encoder_table(tidy: pd.DataFrame, settings_files: Sequence[str | Path], log_paths: Sequence[str | Path],
                  metric: str = "macro_f1", terms: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """One row per encoder: licence and gating (``terms``: encoder -> {licence, gated}), best lesion
    configuration on val (by ``metric``), its test scores, the feature dimension and the throughput."""
    lesion = tidy[tidy["task"] == "lesion"]
    if lesion.empty:
        raise ResultsError("the runs table has no lesion task rows")
    best = best_on_test(lesion, metric, ["encoder"], REPORTED)
    facts = store_facts(settings_files)
    speed = throughput(log_paths, facts["encoder"].tolist())
    table = facts.merge(best, on="encoder", how="left").merge(speed, on="encoder", how="left")
    missing = table.loc[table[f"{REPORTED[0]}_mean"].isna(), "encoder"].tolist()
    if missing:
        raise ResultsError(f"encoder(s) {missing} have feature stores but no lesion runs in the runs table")
    terms = terms or {}
    unknown = sorted(set(table["encoder"]) - set(terms)) if terms else []
    if unknown:
        raise ResultsError(f"encoder(s) {unknown} have feature stores but no entry in encoders (licence unknown)")
    table["licence"] = [terms.get(e, {}).get("licence", "not stated") for e in table["encoder"]]
    table["gated"] = [bool(terms.get(e, {}).get("gated", False)) for e in table["encoder"]]
    columns = ["encoder", "family", "licence", "gated", "dim", "experiment", "loss", "architecture", "crop", "pooling", "resolution",
               f"val_{metric}", *[f"{m}_{s}" for m in REPORTED for s in ("mean", "std")], "n_seeds",
               "views", "seconds", "images_per_s"]
    return table[columns].sort_values(f"{REPORTED[0]}_mean", ascending=False, kind="stable").reset_index(drop=True)


@styled
def encoder_figure(table: pd.DataFrame, png: str | Path, svg: str | Path) -> None:
    """Test macro-F1 and balanced accuracy of each encoder's val-chosen lesion model (error bars:
    std over seeds), labelled with family, feature dimension and throughput."""
    fig, axes = new_figure(1, 1, width=max(5.5, 2.2 * len(table)))
    ax = axes[0, 0]
    x = np.arange(len(table))
    for i, metric in enumerate(REPORTED):
        ax.bar(x + (i - 0.5) * 0.4, table[f"{metric}_mean"], 0.4, yerr=table[f"{metric}_std"].fillna(0), capsize=3,
               label=HEADERS[metric], color=colour(i), hatch=hatch(i), edgecolor="white")
    labels = [f"{r.encoder}\n{r.family}, {r.dim}-d\n{r.licence}{', gated' if r.gated else ''}\n"
              f"{r.images_per_s:.1f} img/s" for r in table.itertuples()]
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("lesion task, test")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)  # above the bars, never over them
    fig.suptitle("Best lesion model per encoder (chosen on val)")
    save_figure(fig, png, svg)


def tabulate_encoders(runs_tsv: str | Path, settings_files: Sequence[str | Path], log_paths: Sequence[str | Path],
                      stem: str | Path, metric: str = "macro_f1", figure: tuple[str | Path, str | Path] | None = None,
                      terms: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    from samderm.report.aggregate import read_runs

    table = encoder_table(read_runs(runs_tsv), settings_files, log_paths, metric, terms)
    note = (f"Lesion task, test split; per encoder the configuration with the best val {metric} "
            "(mean ± std over seeds). licence: the terms of the encoder's weights as the config states them "
            "(encoders.<name>.licence); gated: behind an access form. images_per_s: views encoded / seconds of the encoder passes "
            "(extract_features logs, all stores of the encoder; lesion masks are shared and not counted).")
    write_table(table, stem, "Encoders compared", note)
    if figure:
        encoder_figure(table, *figure)
    log.info("encoder table: %d encoders", len(table))
    return table
