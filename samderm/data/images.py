"""Read any image file the data sets contain as an 8-bit RGB picture, or say why not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 16-bit and 32-bit integer modes: scaled from the 16-bit range, not clipped at 255
_WIDE_INT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


class BadImageError(ValueError):
    """An image file that cannot be used; carries the path and the reason."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(str(path), reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def load_rgb(path: str | Path) -> Image.Image:
    """Decode the whole file (so truncation is caught) and return it as RGB.

    Grayscale, palette, CMYK and 16-bit images are converted; transparency is
    composited onto white; EXIF orientation is applied.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise BadImageError(path, "zero-byte file")
        with Image.open(path) as img:
            # load() decodes every byte; PIL raises on a truncated stream
            img.load()
            img = ImageOps.exif_transpose(img)
    except BadImageError:
        raise
    except FileNotFoundError:
        raise BadImageError(path, "file not found") from None
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image file (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise BadImageError(path, f"cannot decode: {err}") from None
    return _to_rgb(img, path)


def _to_rgb(img: Image.Image, path: Path) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in _WIDE_INT_MODES:
        wide = np.asarray(img, dtype=np.int64)
        gray = np.round(np.clip(wide, 0, 65535) / 257.0).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if img.mode == "F":
        raise BadImageError(path, "floating-point image (mode F) has no defined 8-bit range")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as err:
        raise BadImageError(path, f"cannot convert mode {img.mode} to RGB: {err}") from None
