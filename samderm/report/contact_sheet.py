"""Images tiled into one figure with a title each: the lesion crop overlays of a feature set, and
the OOD test images the gate accepts (samderm.report.gate_report)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

from PIL import Image

from samderm.report.aggregate import ResultsError
from samderm.report.style import new_figure, save_figure, styled

log = logging.getLogger(__name__)


def tile_images(tiles: Sequence[tuple[str | Path, str]], png: str | Path, svg: str | Path, title: str, columns: int,
                width: float, height: float, fontsize: int = 9) -> None:
    """One panel per (image path, panel title), ``columns`` to a row, ``width`` x ``height`` inches each."""
    rows = max(1, math.ceil(len(tiles) / columns))
    fig, axes = new_figure(rows, columns, width=width, height=height)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (path, name) in zip(axes.flat, tiles):
        with Image.open(path) as image:
            ax.imshow(image.convert("RGB"))
        ax.set_title(name, fontsize=fontsize)
    fig.suptitle(title)
    save_figure(fig, png, svg)


@styled
def crop_contact_sheet(overlay_dir: str | Path, png: str | Path, svg: str | Path, title: str, columns: int = 2) -> None:
    """Every overlay PNG of ``overlay_dir`` (original with the crop box | the crop the encoder sees), in
    name order, ``columns`` to a row."""
    paths = sorted(Path(overlay_dir).glob("*.png"))
    if not paths:
        raise ResultsError(f"{overlay_dir}: no overlay PNGs (features.crop.overlays = 0, or the lesion crop did not run)")
    tile_images([(p, p.stem) for p in paths], png, svg, title, columns, width=5.0, height=2.7)
    log.info("contact sheet: %d overlays from %s", len(paths), overlay_dir)
