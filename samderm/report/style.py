"""One look for every figure: the Okabe-Ito colour-blind-safe palette, readable fonts, PNG+SVG."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, ParamSpec, TypeVar

import matplotlib

matplotlib.use("Agg")  # figures are written by batch jobs without a display
import matplotlib.pyplot as plt  # noqa: E402

from samderm.io import atomic_path  # noqa: E402

P = ParamSpec("P")
R = TypeVar("R")

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
# hatches tell bars apart in greyscale print too
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")

RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "samderm",  # stable SVG ids: the same data gives the same file
    "svg.fonttype": "none",  # text stays text in the SVG (editable in a thesis)
}


def colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def hatch(i: int) -> str:
    return HATCHES[i % len(HATCHES)]


def styled(plot: Callable[P, R]) -> Callable[P, R]:
    """Draw everything inside ``plot`` with the house style (rcParams apply when artists are made)."""

    @functools.wraps(plot)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with plt.rc_context(RC):
            return plot(*args, **kwargs)

    return wrapper


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 6.4, height: float = 4.2, **kwargs):
    """A figure of ``nrows`` x ``ncols`` panels; ``width``/``height`` are per panel, in inches."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)


def save_figure(fig, png: str | Path, svg: str | Path | None = None, dpi: int = 150) -> None:
    """Write the figure as PNG (for the report) and SVG (for print), atomically; then close it."""
    fig.tight_layout()
    for path, fmt in ((png, "png"), (svg, "svg")):
        if path is None:
            continue
        with atomic_path(path) as tmp:
            # no dates or versions in the files: the same data gives the same bytes
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else {"Software": None})
    plt.close(fig)
