"""Image bytes -> the RGB pixel array the model reads, for every awkward kind of file."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from alttext.errors import SourceError

WHITE = (255, 255, 255)
# Pixels decoded in full: a 40-megapixel RGB picture takes 120 MB while it is converted. A JPEG past it is
# decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, Image.draft), any other format refused.
MAX_PIXELS = 40_000_000


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


def opened(data: bytes, source: str) -> Image.Image:
    """The first frame's header read, not its pixels, set to decode at most MAX_PIXELS (SourceError otherwise).

    The decompression-bomb limit is checked here rather than by turning Pillow's warning into an error:
    warnings.catch_warnings() changes process-wide state and is not safe in the threads that decode images."""
    if not data:
        raise SourceError(source, "empty file")
    try:
        im = Image.open(io.BytesIO(data))
        im.seek(0)
    except UnidentifiedImageError:
        raise SourceError(source, "not an image format Pillow can read") from None
    except Image.DecompressionBombError:
        raise SourceError(source, "image has too many pixels (decompression bomb limit)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise SourceError(source, _corrupt(e)) from None
    width, height = im.size
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise SourceError(source, "image has too many pixels (decompression bomb limit)")
    if width * height > MAX_PIXELS:
        if im.format != "JPEG":
            raise SourceError(source, f"image has {width * height / 1e6:.0f} megapixels; alttext decodes at most "
                                      f"{MAX_PIXELS // 1_000_000} unless it is a JPEG")
        scale = next(k for k in (2, 4, 8, 16) if width * height / (k * k) <= MAX_PIXELS)
        im.draft("RGB", (math.ceil(width / scale), math.ceil(height / scale)))
    return im


def decoded_pixels(data: bytes, source: str) -> int:
    """How many pixels open_image will decode (SourceError when it will refuse the image)."""
    with opened(data, source) as im:
        return im.size[0] * im.size[1]


def open_image(data: bytes, source: str) -> Image.Image:
    """The first frame, upright (EXIF orientation applied), as RGB."""
    im = opened(data, source)
    try:
        im.load()
        return _to_rgb(ImageOps.exif_transpose(im))
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise SourceError(source, _corrupt(e)) from None
    finally:
        im.close()


def _corrupt(error: Exception) -> str:
    return "truncated image" if "truncated" in str(error).lower() else f"corrupt image ({str(error)[:80]})"


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
