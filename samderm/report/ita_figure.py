"""The ITA distribution per source and lesion class, with the six skin-tone categories
(matplotlib stays out of samderm.data; the values come from samderm.data.ita)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from samderm.data.ita import ITA_BOUNDARIES, ITA_CATEGORIES
from samderm.report.style import colour, new_figure, save_figure, styled

log = logging.getLogger(__name__)
_LIMITS = (-90.0, 90.0)


def ita_groups(ita: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """The ITA rows with a value, with ``panel`` (``lesion`` or the external ``dataset``) and ``lesion_class``."""
    info = manifest[["image_id", "source", "dataset", "lesion_class"]].drop_duplicates("image_id")
    table = ita.merge(info, on="image_id", how="left")
    table["ita"] = pd.to_numeric(table["ita"], errors="coerce")
    table = table[table["ita"].notna()].copy()
    dataset = table["dataset"].fillna("").astype(str)
    table["panel"] = np.where(table["source"] == "lesion", "lesion", "external: " + dataset.where(dataset != "", "?"))
    table["lesion_class"] = table["lesion_class"].fillna("").replace("", "unmapped")  # an external class without mapping
    return table


def _category_bands(ax) -> None:
    """Dashed lines at the boundaries, each category's name in its band (right edge)."""
    edges = (_LIMITS[1],) + ITA_BOUNDARIES + (_LIMITS[0],)
    for boundary in ITA_BOUNDARIES:
        ax.axhline(boundary, color="grey", linestyle="--", linewidth=0.8, zorder=0)
    for name, upper, lower in zip(ITA_CATEGORIES, edges[:-1], edges[1:]):
        ax.text(1.01, (upper + lower) / 2, name.replace("_", " "), transform=ax.get_yaxis_transform(),
                va="center", ha="left", fontsize=8, color="dimgrey")


@styled
def ita_figure(ita: pd.DataFrame, manifest: pd.DataFrame, png: str | Path, svg: str | Path | None = None) -> None:
    """One panel per source (``lesion``, then each external data set): per lesion class, a box
    plot and the jittered points (fixed seed) of ITA; category boundaries as dashed lines."""
    table = ita_groups(ita, manifest)
    panels = (["lesion"] if (table["panel"] == "lesion").any() else []) + sorted(set(table["panel"]) - {"lesion"})
    widest = max([table.loc[table["panel"] == p, "lesion_class"].nunique() for p in panels] or [1])
    fig, axes = new_figure(1, max(1, len(panels)), width=max(4.5, 0.7 * widest + 2.0), height=4.8, sharey=True)
    rng = np.random.default_rng(0)
    if not panels:
        ax = axes[0, 0]
        ax.text(0.5, 0.5, "no image with an ITA", ha="center", va="center", transform=ax.transAxes)
        ax.set_ylim(*_LIMITS)
        _category_bands(ax)
    for k, panel in enumerate(panels):
        ax = axes[0, k]
        rows = table[table["panel"] == panel]
        classes = sorted(rows["lesion_class"].unique())
        values = [rows.loc[rows["lesion_class"] == c, "ita"].to_numpy() for c in classes]
        x = np.arange(1, len(classes) + 1)
        ax.boxplot(values, positions=x, widths=0.6, showfliers=False, medianprops={"color": "black"})
        for i, (pos, vals) in enumerate(zip(x, values)):
            ax.scatter(pos + rng.uniform(-0.2, 0.2, len(vals)), vals, s=8, alpha=0.5, color=colour(i), linewidths=0)
        ax.set_xticks(x, [f"{c}\n(n={len(v)})" for c, v in zip(classes, values)], fontsize=8)
        ax.set_ylim(*_LIMITS)
        ax.set_title(f"{panel} (n={len(rows)})")
        ax.set_xlabel("lesion class")
        _category_bands(ax)
    axes[0, 0].set_ylabel("ITA (degrees)")
    fig.suptitle("Individual typology angle of the skin around the lesion")
    save_figure(fig, png, svg)
    log.info("ITA figure: %d panel(s), %d image(s) with an ITA", len(panels), len(table))
