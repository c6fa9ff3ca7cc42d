"""Image bytes -> the RGB pixel array the model reads, for every awkward kind of file."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from alttext.errors import SourceError

WHITE = (255, 255, 255)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Palette, CMYK, grey, 16-bit and float modes to RGB; transparency composited on white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, WHITE + (255,))
        return Image.alpha_composite(background, im).convert("RGB")
    return im.convert("RGB")


def open_image(data: bytes, source: str) -> Image.Image:
    """The first frame, upright (EXIF orientation applied), as RGB."""
    if not data:
        raise SourceError(source, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
            return _to_rgb(im)
    except UnidentifiedImageError:
        raise SourceError(source, "not an image format Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SourceError(source, "image has too many pixels (decompression bomb limit)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        message = str(e).lower()
        reason = "truncated image" if "truncated" in message else f"corrupt image ({str(e)[:80]})"
        raise SourceError(source, reason) from None


def squash(im: Image.Image, size: int) -> np.ndarray:
    """(size, size, 3) uint8: a plain resize, as the training photos were squashed, not cropped."""
    return np.asarray(im.resize((size, size), Image.BICUBIC), dtype=np.uint8)


def load_pixels(data: bytes, source: str, size: int) -> np.ndarray:
    return squash(open_image(data, source), size)


def normalise(pixels: np.ndarray, meta: dict) -> np.ndarray:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float32 per model.json's normalisation."""
    n = meta["normalisation"]
    x = pixels.astype(np.float32) * np.float32(n["scale"])
    x = (x - np.asarray(n["mean"], np.float32)) / np.asarray(n["std"], np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
