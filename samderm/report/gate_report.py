"""The gate judged end to end, over the study: for the best lesion configuration (chosen on val) and the
gating head (samderm.ood.end_to_end.gate_head), what each detector's gate does to every test source, which
in-distribution classes it rejects, the lesion task's risk-coverage curves, and a contact sheet of the OOD
test images the best gate (highest mean val AUROC on the gating head) still lets through."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from samderm.io import read_tsv
from samderm.data.splits import SHIFT
from samderm.ood.end_to_end import (ACCURACY_COLUMNS, GROUP_KEYS, REJECTED_NOT_SKIN, REJECTED_OOD, REJECTIONS,
                                    gate_head)
from samderm.ood.metrics import ALL_LEVELS, LEVEL_ORDER
from samderm.ood.sets import EXTERNAL_SOURCE
from samderm.report.aggregate import CONFIG_KEYS, ResultsError, read_runs, run_from_dir
from samderm.report.contact_sheet import tile_images
from samderm.report.style import OKABE_ITO, colour, new_figure, save_figure, styled
from samderm.report.summaries import best_ood_runs
from samderm.report.tables import write_table

log = logging.getLogger(__name__)

SHEET_LIMIT = 24  # OOD images shown on the contact sheet (the most confidently accepted first)
SHEET_COLUMNS = 6
COUNTS = [REJECTED_NOT_SKIN, REJECTED_OOD, "accepted_correct"]
TOTAL = "(all)"  # the category of a source's (or an OOD level's) total row


def ood_dirs_by_run(paths: Sequence[str | Path]) -> dict[str, Path]:
    return {str(Path(p).parent): Path(p) for p in paths}


def read_seed_tables(paths: Mapping[str, Path], dirs: Sequence[str], head: str) -> pd.DataFrame:
    """The rows of ``head`` from one OOD file of each seed's run directory, with a `seed` column."""
    frames = []
    for d in dirs:
        table = read_tsv(paths[d])
        if "head" not in table.columns:
            raise ResultsError(f"{paths[d]}: no head column (columns: {list(table.columns)})")
        frames.append(table[table["head"] == head].assign(seed=run_from_dir(d).seed))
    rows = pd.concat(frames, ignore_index=True)
    if rows.empty:
        raise ResultsError(f"{', '.join(str(paths[d]) for d in dirs)}: no rows of the gating head {head!r}")
    return rows


def detector_ranking(tuning: pd.DataFrame) -> pd.Series:
    """Mean over seeds of each detector's val AUROC at its chosen hyper-parameters (tuning.tsv `chosen`
    rows), best first; ties keep the config's detector order."""
    chosen = tuning[tuning["chosen"].astype(str) == "True"].astype({"val_auroc": float})
    order = list(dict.fromkeys(chosen["detector"]))
    mean = chosen.groupby("detector", sort=False)["val_auroc"].mean().reindex(order)
    return mean.iloc[np.argsort(-mean.to_numpy(), kind="stable")].rename("val_auroc")


def end_to_end_table(end_to_end: pd.DataFrame, ranking: pd.Series, classes: Sequence[str]) -> pd.DataFrame:
    """Per detector (best val AUROC first) and test source/category: images summed over seeds in each
    outcome, the rejections first, then the lesion class each accepted image gets; `accepted` its share.
    A source of several categories ends with its total (category ``(all)``), a source of far and near
    categories with each level's total and the total of all (ood_level ``all``: far and near, never shift); the
    lesion source of a held-out-class run never gets a total of its in-distribution and held-out (near OOD) images
    together. A group of labelled images (in-distribution lesions, shift images) has the lesion head's accuracy and
    balanced accuracy on its accepted images (mean over seeds; empty for other groups and for totals)."""
    counts = end_to_end.astype({"n": int})
    keys = ["detector", *GROUP_KEYS]
    wide = counts.pivot_table(index=keys, columns="outcome", values="n", aggfunc="sum", sort=False, fill_value=0)
    wide = _with_totals(wide.reindex(columns=[*REJECTIONS, *classes], fill_value=0))
    wide.insert(0, "n", wide.sum(axis=1))
    wide["accepted"] = 1 - wide[list(REJECTIONS)].sum(axis=1) / wide["n"]
    table = wide.reset_index()
    accuracy = [c for c in ACCURACY_COLUMNS if c in counts]
    if accuracy:  # one value per group and seed, repeated on the group's outcome rows
        per_seed = counts.drop_duplicates([*keys, "seed"] if "seed" in counts else keys)
        means = per_seed[keys].assign(**{c: pd.to_numeric(per_seed[c], errors="coerce") for c in accuracy}).groupby(
            keys, sort=False)[accuracy].mean()
        table = table.merge(means.reset_index(), on=keys, how="left")
    table.insert(1, "val_auroc", table["detector"].map(ranking))
    table["_rank"] = table["detector"].map({d: i for i, d in enumerate(ranking.index)})
    source_rank = {"lesion": 0, "not_skin": 1, "ood": 2, EXTERNAL_SOURCE: 3}
    level_rank = {level: i for i, level in enumerate(["", *LEVEL_ORDER])}
    sort_key = {"source": source_rank, "ood_level": level_rank}
    table["_total"] = table["category"] == TOTAL  # a total after the categories it sums
    table = table.sort_values(["_rank", "source", "ood_level", "_total", "category"],
                              key=lambda c: c.map(sort_key[c.name]) if c.name in sort_key else c,
                              kind="stable").drop(columns=["_rank", "_total"])
    return _without_empty_level(table).reset_index(drop=True)


def _with_totals(wide: pd.DataFrame) -> pd.DataFrame:
    """``wide`` (index detector, source, category, ood_level) with the total rows end_to_end_table describes."""
    totals = []
    for (detector, source), rows in wide.groupby(level=["detector", "source"], sort=False):
        levels = rows.index.get_level_values("ood_level")
        distinct = list(dict.fromkeys(levels))
        for level in distinct:
            if level and (levels == level).sum() > 1 and (len(distinct) > 1 or level == SHIFT):
                totals.append(rows[levels == level].sum().rename((detector, source, TOTAL, level)))
        pooled = [lv for lv in distinct if lv != SHIFT]  # shift is never pooled into all
        if len(pooled) > 1 and "" not in pooled:  # in-distribution never pooled with OOD
            totals.append(rows[levels != SHIFT].sum().rename((detector, source, TOTAL, ALL_LEVELS)))
        elif len(distinct) == 1 and distinct[0] != SHIFT and len(rows) > 1:
            totals.append(rows.sum().rename((detector, source, TOTAL, distinct[0])))
    return pd.concat([wide, pd.DataFrame(totals).rename_axis(wide.index.names)]) if totals else wide


def class_rejection_table(rejection: pd.DataFrame, ranking: pd.Series) -> pd.DataFrame:
    """Per detector (best first) and true lesion class: test lesions summed over seeds, rejected by each
    stage, accepted, and the shares (a class without test images has empty shares)."""
    numbers = ["n_test", *COUNTS[:2], "accepted", COUNTS[2]]
    summed = rejection.astype({c: int for c in numbers}).groupby(["detector", "lesion_class"], sort=False)[numbers].sum()
    n, rejected = summed["n_test"], summed[REJECTED_NOT_SKIN] + summed[REJECTED_OOD]
    summed["rejected_fraction"] = (rejected / n).where(n > 0)
    summed["ood_fraction"] = (summed[REJECTED_OOD] / n).where(n > 0)
    summed["accuracy_accepted"] = (summed["accepted_correct"] / summed["accepted"]).where(summed["accepted"] > 0)
    table = summed.reset_index()
    table.insert(1, "val_auroc", table["detector"].map(ranking))
    rank = {d: i for i, d in enumerate(ranking.index)}
    return table.sort_values("detector", key=lambda c: c.map(rank), kind="stable").reset_index(drop=True)


def _semantic_ood(images: pd.DataFrame) -> pd.Series:
    """The OOD images of an end_to_end_images table: the `ood` source (held-out classes included) and the
    external near-OOD images; not the shift images (the study's classes under another camera or population)."""
    level = images["ood_level"] if "ood_level" in images else pd.Series("", index=images.index)
    return (images["source"] == "ood") | ((images["source"] == EXTERNAL_SOURCE) & ~level.isin(["", SHIFT]))


def _without_empty_level(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns="ood_level") if (table["ood_level"] == "").all() else table


@styled
def risk_coverage_figure(curves: pd.DataFrame, ranking: pd.Series, title: str, png: str | Path, svg: str | Path) -> None:
    """The lesion task's risk-coverage curve of each detector (first seed), AURC (mean over seeds) in the
    legend, and the best gate's operating point (its val-chosen threshold)."""
    curves = curves.astype({"coverage": float, "risk": float, "aurc": float, "max_score": float, "threshold": float})
    first = curves[curves["seed"] == curves["seed"].min()]
    aurc = curves.groupby(["detector", "seed"])["aurc"].first().groupby("detector").mean()
    fig, axes = new_figure(1, 1, width=6.4, height=4.6)
    ax = axes[0, 0]
    for i, detector in enumerate(ranking.index):
        points = first[first["detector"] == detector]
        if points.empty:
            continue
        best = i == 0
        ax.step(np.r_[0.0, points["coverage"]], np.r_[points["risk"].iloc[0], points["risk"]], where="pre",
                color=colour(i), linewidth=2.4 if best else 1.4, linestyle="-" if i < len(OKABE_ITO) else "-.",
                label=f"{detector}{' (best gate)' if best else ''}: AURC {aurc[detector]:.3f}")
        if best:
            threshold = points["threshold"].iloc[0]
            below = points[points["max_score"] <= threshold]
            if len(below):
                ax.plot(below["coverage"].iloc[-1], below["risk"].iloc[-1], "o", color=colour(i), markersize=8,
                        markeredgecolor="black", label=f"{detector} gate (val threshold)")
    ax.set(xlim=(0, 1.02), ylim=(0, None), xlabel="coverage (share of test lesions accepted)",
           ylabel="risk (lesion error rate of the accepted)", title=title)
    ax.legend(fontsize=8, loc="best")
    save_figure(fig, png, svg)


@styled
def accepted_contact_sheet(images: pd.DataFrame, manifest: pd.DataFrame, detector: str, n_ood: int, title: str,
                           png: str | Path, svg: str | Path, limit: int = SHEET_LIMIT) -> int:
    """The OOD test images (`images`: the best gate's rows of one seed) that pass both the skin head and the
    detector, lowest score first, at most ``limit``, each titled with its category and the lesion class it
    gets; a figure saying so when there are none. Returns how many were accepted."""
    ood = images[_semantic_ood(images)]
    accepted = ood[~ood["outcome"].isin(REJECTIONS)].astype({"score": float, "lesion_probability": float})
    accepted = accepted.sort_values("score", kind="stable")
    paths = manifest.set_index("image_id")["path"]
    missing = sorted(set(accepted["image_id"]) - set(paths.index))
    if missing:
        raise ResultsError(f"manifest: no path for accepted OOD image(s) {missing[:5]}")
    if accepted.empty:
        fig, axes = new_figure(1, 1, width=9.0, height=2.0)
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, f"The {detector} gate accepts none of the {n_ood} OOD test images.",
                        ha="center", va="center", fontsize=12)
        fig.suptitle(title, fontsize=11)
        save_figure(fig, png, svg)
        return 0
    shown = accepted.head(limit)
    tiles = [(paths[r.image_id], f"{r.category or r.source}\n-> {r.outcome} ({r.lesion_probability:.2f})")
             for r in shown.itertuples(index=False)]
    more = f"; {len(shown)} shown" if len(accepted) > len(shown) else ""
    columns = min(SHEET_COLUMNS, len(tiles))
    # a few tiles still get a figure wide enough for the title
    tile_images(tiles, png, svg, f"{title}\n{len(accepted)} of {n_ood} OOD test images accepted{more}",
                columns, width=max(1.9, 9.0 / columns), height=2.1, fontsize=7)
    return len(accepted)


def report_gate(runs_tsv: str | Path, tuning_tsvs: Sequence[str | Path], end_to_end_tsvs: Sequence[str | Path],
                class_tsvs: Sequence[str | Path], curve_tsvs: Sequence[str | Path], image_tsvs: Sequence[str | Path],
                manifest_tsv: str | Path, heads: Sequence[str], selection_metric: str, out_dir: str | Path,
                figures: Mapping[str, str | Path], limit: int = SHEET_LIMIT) -> None:
    """The tables ood_end_to_end and ood_class_rejection, and the figures risk_png/svg, sheet_png/svg."""
    head = gate_head(list(heads))
    files = {name: ood_dirs_by_run(paths) for name, paths in (("tuning", tuning_tsvs), ("end_to_end", end_to_end_tsvs),
                                                      ("class", class_tsvs), ("curves", curve_tsvs), ("images", image_tsvs))}
    [(config, dirs)] = best_ood_runs(read_runs(runs_tsv), files["end_to_end"], selection_metric, ("task",))
    ranking = detector_ranking(read_seed_tables(files["tuning"], dirs, head))
    best = ranking.index[0]
    rejection = read_seed_tables(files["class"], dirs, head)
    classes = list(dict.fromkeys(rejection["lesion_class"]))
    where = (f"{' / '.join(str(config[k]) for k in CONFIG_KEYS)}, {len(dirs)} seed(s); {head} head's detectors, "
             f"each at its val-chosen threshold")
    outcomes = end_to_end_table(read_seed_tables(files["end_to_end"], dirs, head), ranking, classes)
    write_table(outcomes, Path(out_dir) / "ood_end_to_end", "The gate judged end to end: where every test image ends",
                f"{where}. Skin head first ({REJECTED_NOT_SKIN}), then the detector ({REJECTED_OOD}: score above the "
                "threshold), then the lesion head's class; counts are images summed over seeds, each image once per "
                f"seed; accepted = share that reaches a lesion class; category {TOTAL}: the total of a source's "
                "categories, per OOD level and over all levels (all = far and near; shift = external images of the "
                "study's classes, never pooled; in-distribution lesions never pooled with OOD); accuracy_accepted and "
                "balanced_accuracy_accepted: the lesion head on the accepted labelled images (in-distribution lesions, "
                "shift images against their mapped labels), mean over seeds. "
                f"Detectors by mean val AUROC (val_auroc), best first: the best gate is {best}. Best configuration "
                f"chosen on val by {selection_metric}.")
    write_table(class_rejection_table(rejection, ranking), Path(out_dir) / "ood_class_rejection",
                "In-distribution test lesions rejected, by true class",
                f"{where}. Per true class (every class of the lesion head, also those with one or no test image): "
                f"rejected by the skin head ({REJECTED_NOT_SKIN}) and by the detector ({REJECTED_OOD}), accepted, "
                "accepted and correctly classified; rejected_fraction = both stages together. Summed over seeds.")
    curves = read_seed_tables(files["curves"], dirs, head)
    risk_coverage_figure(curves, ranking, f"Lesion task, selective by OOD score ({head} head)\n{where.split(';')[0]}",
                         figures["risk_png"], figures["risk_svg"])
    first = min(dirs, key=lambda d: run_from_dir(d).seed)
    images = read_seed_tables(files["images"], [first], head)
    images = images[images["detector"] == best]
    n_ood = int(_semantic_ood(images).sum())
    accepted = accepted_contact_sheet(images, read_tsv(manifest_tsv), best, n_ood,
                                      f"OOD test images the {best} gate accepts, with the lesion head's label "
                                      f"(seed {run_from_dir(first).seed})", figures["sheet_png"], figures["sheet_svg"], limit)
    log.info("gate report: %s; best gate %s (val AUROC %.3f) accepts %d of %d OOD test images (seed %d)",
             where, best, ranking.iloc[0], accepted, n_ood, run_from_dir(first).seed)
