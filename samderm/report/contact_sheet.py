"""Original vs cropped lesion overlays of one feature set, tiled into one figure."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from PIL import Image

from samderm.report.aggregate import ResultsError
from samderm.report.style import new_figure, save_figure, styled

log = logging.getLogger(__name__)


@styled
def crop_contact_sheet(overlay_dir: str | Path, png: str | Path, svg: str | Path, title: str, columns: int = 2) -> None:
    """Every overlay PNG of ``overlay_dir`` (original with the crop box | the crop the encoder sees), in
    name order, ``columns`` to a row."""
    paths = sorted(Path(overlay_dir).glob("*.png"))
    if not paths:
        raise ResultsError(f"{overlay_dir}: no overlay PNGs (features.crop.overlays = 0, or the lesion crop did not run)")
    rows = math.ceil(len(paths) / columns)
    fig, axes = new_figure(rows, columns, width=5.0, height=2.7)
    for ax in axes.flat:
        ax.axis("off")
    for ax, path in zip(axes.flat, paths):
        with Image.open(path) as image:
            ax.imshow(image.convert("RGB"))
        ax.set_title(path.stem, fontsize=9)
    fig.suptitle(title)
    save_figure(fig, png, svg)
    log.info("contact sheet: %d overlays from %s", len(paths), overlay_dir)
