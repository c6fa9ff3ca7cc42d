"""Real image files of every awkward kind, written with Pillow."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def gradient(size=(64, 48)) -> Image.Image:
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.uint8)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=2), "RGB")


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def awkward_images() -> dict[str, bytes]:
    """name -> bytes of a file every image reader must cope with."""
    base = gradient()
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: stored sideways, shown upright
    frames = [gradient((32, 32)), gradient((32, 32)).transpose(Image.FLIP_LEFT_RIGHT)]
    anim = io.BytesIO()
    frames[0].save(anim, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    sixteen = Image.fromarray((np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16))
    return {
        "photo.jpg": encode(base, "JPEG"),
        "photo.png": encode(base, "PNG"),
        "animated.gif": anim.getvalue(),
        "photo.webp": encode(base, "WEBP"),
        "cmyk.jpg": encode(base.convert("CMYK"), "JPEG"),
        "sixteen.png": encode(sixteen, "PNG"),
        "transparent.png": encode(rgba, "PNG"),
        "palette.png": encode(base.convert("P"), "PNG", transparency=0),
        "rotated.jpg": encode(base, "JPEG", exif=exif.tobytes()),
        "grey.bmp": encode(base.convert("L"), "BMP"),
        "photo.tiff": encode(base, "TIFF"),
    }


def broken_images() -> dict[str, bytes]:
    """name -> bytes that are not a usable image."""
    whole = encode(gradient((256, 256)), "JPEG")
    return {
        "truncated.jpg": whole[: len(whole) // 2],
        "empty.jpg": b"",
        "text.jpg": b"this is not an image, only text\n" * 10,
        "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    }


def write_all(folder: Path, files: dict[str, bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels: enough to trip the decompression-bomb limit
    without allocating them."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
