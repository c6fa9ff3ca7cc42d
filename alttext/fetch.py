"""Bytes from where the user points: files, stdin, and http(s) URLs with limits."""

from __future__ import annotations

import sys
from pathlib import Path

import requests

from alttext import __version__
from alttext.errors import SourceError

USER_AGENT = f"alttext/{__version__} (offline alt-text tool; +https://pypi.org/project/alttext/)"
TIMEOUT_S = 10.0
MAX_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 5


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def read_file(path: Path, source: str | None = None, max_bytes: int = MAX_BYTES) -> bytes:
    source = source or str(path)
    try:
        if path.stat().st_size > max_bytes:
            raise SourceError(source, f"file is larger than {max_bytes // (1024 * 1024)} MB")
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceError(source, "no such file") from None
    except IsADirectoryError:
        raise SourceError(source, "is a directory") from None
    except PermissionError:
        raise SourceError(source, "permission denied") from None
    except OSError as e:
        raise SourceError(source, e.strerror or str(e)) from None


def read_stdin(max_bytes: int = MAX_BYTES) -> bytes:
    data = sys.stdin.buffer.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SourceError("-", f"stdin is larger than {max_bytes // (1024 * 1024)} MB")
    return data


def fetch_url(
    url: str,
    accept: tuple[str, ...] = ("image/",),
    max_bytes: int = MAX_BYTES,
    timeout: float = TIMEOUT_S,
    session: requests.Session | None = None,
) -> tuple[bytes, str]:
    """GET a URL; return (body, final URL). The content type must start with one of `accept`."""
    http = session or requests.Session()
    http.max_redirects = MAX_REDIRECTS
    try:
        with http.get(
            url, timeout=timeout, stream=True, headers={"User-Agent": USER_AGENT}
        ) as response:
            if response.status_code >= 400:
                raise SourceError(url, f"HTTP {response.status_code} {response.reason}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not content_type.startswith(accept):
                wanted = " or ".join(a.rstrip("/") for a in accept)
                raise SourceError(url, f"content type is {content_type or 'missing'}, not {wanted}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(url, f"larger than {max_bytes // (1024 * 1024)} MB")
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > max_bytes:
                    raise SourceError(url, f"larger than {max_bytes // (1024 * 1024)} MB")
            return bytes(body), response.url
    except requests.exceptions.Timeout:
        raise SourceError(url, f"timed out after {timeout:g} s") from None
    except requests.exceptions.TooManyRedirects:
        raise SourceError(url, f"more than {MAX_REDIRECTS} redirects") from None
    except requests.exceptions.RequestException as e:
        raise SourceError(url, f"could not fetch ({type(e).__name__})") from None
