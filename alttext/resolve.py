"""Image URL on a page → the image's bytes: local files inside the site root, http(s), data: URLs."""

from __future__ import annotations

import base64
import binascii
import functools
import io
import threading
from pathlib import Path
from urllib.parse import quote, unquote, unquote_to_bytes, urljoin, urlsplit, urlunsplit

import requests
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from alttext.errors import SourceError
from alttext.fetch import MAX_BYTES, fetch_url, read_file

# Local pages get URLs on this made-up host, so that URL joining (.., /, <base href>) works the
# same as on the web, and an absolute file: URL in a page never lands inside the site.
SITE_URL = "file://site/"
MIN_SIDE = 3  # images this small on both sides are spacers and tracking pixels, not pictures

Locator = Path | str  # a file inside the site root, or an http(s) or data: URL

_sessions = threading.local()


def page_url(path: Path, root: Path) -> str:
    """The URL that relative image URLs on the local page `path` resolve against."""
    return SITE_URL + quote(path.relative_to(root).as_posix())


def locate(ref: str, page: str, base: str | None, root: Path | None, remote: bool = True) -> Locator:
    """Where the image `ref` on the page at URL `page` is; SourceError when it may not be read. Images on
    the web are read for a local page (`root`) only when `remote` allows it."""
    ref = ref.strip()
    if ref[:5].lower() == "data:":
        return ref
    try:
        url = urljoin(base_url(page, base), ref)
        parts = urlsplit(url)
    except ValueError:
        raise SourceError(ref, "not a valid URL") from None
    if parts.scheme == "file" and root is not None and url.startswith(SITE_URL):
        return _inside(root, unquote(parts.path), ref)
    if parts.scheme == "file" and ref.startswith("//"):  # protocol-relative on a local page
        parts = urlsplit("https:" + ref)
    if parts.scheme in ("http", "https"):
        if root is not None and not remote:
            raise SourceError(ref, "an image on the web: a local run reads none (--remote-images reads them)")
        return urlunsplit(parts._replace(fragment=""))
    raise SourceError(ref, f"{parts.scheme or 'this'} URLs are not read")


def base_url(page: str, base: str | None) -> str:
    """The page's URL, or its <base href> resolved against it; a <base href> that is no URL is ignored,
    as browsers do."""
    if not base:
        return page
    try:
        resolved = urljoin(page, base)
        urlsplit(resolved)
    except ValueError:
        return page
    return resolved


def _inside(root: Path, path: str, ref: str) -> Path:
    if ".." in path.split("/"):
        raise SourceError(ref, "points outside the site root")
    real = _real_path(root, path)
    if real is None:
        raise SourceError(ref, "not a usable file path")
    if not real.is_relative_to(_real_path(root, "")):
        raise SourceError(ref, "points outside the site root (through a link)")
    return real


@functools.lru_cache(maxsize=4096)
def _real_path(root: Path, path: str) -> Path | None:
    """The real path of `path` under `root`, links resolved (kept for the run: pages share images)."""
    try:
        return root.joinpath(*[p for p in path.split("/") if p]).resolve()
    except (OSError, ValueError):
        return None


def load(locator: Locator) -> bytes:
    """The bytes of an image; SourceError when they cannot be read."""
    if isinstance(locator, Path):
        return read_file(locator)
    if locator[:5].lower() == "data:":
        return decode_data_url(locator)
    return fetch_url(locator, accept=("image/",), session=_session())[0]


def _session() -> requests.Session:
    # A Session is not safe to share between threads; each loader thread keeps its own.
    if not hasattr(_sessions, "session"):
        _sessions.session = requests.Session()
    return _sessions.session


def decode_data_url(url: str) -> bytes:
    header, comma, payload = url[5:].partition(",")
    shown = url[:40] + ("…" if len(url) > 40 else "")
    if not comma:
        raise SourceError(shown, "data: URL without a comma")
    if len(payload) > MAX_BYTES * 2:
        raise SourceError(shown, f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(unquote(payload) + "==", validate=False)
        except (binascii.Error, ValueError):
            raise SourceError(shown, "data: URL is not valid base64") from None
    return unquote_to_bytes(payload)


class Placeholder(SourceError):
    """A picture too small to be anything but a lazy-load placeholder or a spacer."""


def check_image(data: bytes, source: str) -> tuple[int, int]:
    """The image's size in pixels; SourceError for what is not a picture we can caption."""
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            width, height = image.size
    except PILImage.DecompressionBombError:
        raise SourceError(source, "image has too many pixels") from None
    except (UnidentifiedImageError, OSError, ValueError):
        if _is_svg(data):
            raise SourceError(source, "SVG images are not supported") from None
        raise SourceError(source, "not an image in a format alttext can read") from None
    if width < MIN_SIDE and height < MIN_SIDE:
        raise Placeholder(source, f"a {width}x{height} placeholder, not a picture")
    return width, height


def _is_svg(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!doctype")) and b"<svg" in head)
