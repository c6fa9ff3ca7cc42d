"""Page discovery: the HTML files of a file or directory target, or a page on the web and, to
--crawl-depth links away, the same-origin pages robots.txt allows; each page read and scanned."""

from __future__ import annotations

import os
import re
import stat
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from alttext.errors import SourceError
from alttext.fetch import fetch_url, is_url, read_file
from alttext.resolve import base_url, page_url
from alttext.scan import PageError, Scan, scan

HTML_SUFFIXES = (".html", ".htm")
HTML_TYPES = ("text/html", "application/xhtml+xml")
PAGE_LIKE = re.compile(r"(?:^|/)(?:[^/.]*|[^/]*\.(?:html?|xhtml|php|aspx?|jsp|shtml))$", re.IGNORECASE)
ROBOTS_AGENT = "alttext"


class PageOptions(Protocol):
    """What page discovery reads of a run's options (fill.Options)."""

    out: Path | None
    root: Path | None
    overwrite: bool
    fill_titled: bool
    crawl_depth: int


@dataclass
class PageJob:
    name: str  # as shown to people: the path or the final URL
    url: str  # what the page's relative URLs resolve against
    root: Path | None  # the local site root; None for pages on the web
    data: bytes
    scan: Scan
    dest: Path | None  # where the patched page goes
    mode: int | None = None  # file mode for a mirrored copy


def pages(targets: list[str], options: PageOptions,
          worth_scanning: Callable[[bytes], bool] | None = None) -> Iterator[PageJob | SourceError]:
    """The pages of the targets, scanned; local pages whose bytes `worth_scanning` turns down are
    passed over unscanned (a crawl scans every page it reads: it needs their links)."""
    for target in targets:
        if is_url(target):
            yield from crawl(target, options)
        else:
            yield from local_pages(Path(target), options, worth_scanning)


def local_files(target: Path, out: Path | None, root: Path | None = None) -> tuple[Path, list[Path]]:
    """The site root (`root`, else the target directory or a page's folder) and the HTML files of a file or
    directory target: regular files only, so that a FIFO named x.html cannot hang a run."""
    if not target.is_dir():
        return site_root(target, root), [target]
    skip = out.resolve() if out else None
    found = []
    for directory, subdirs, files in os.walk(target):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        if skip is not None and Path(directory).resolve() == skip:
            subdirs[:] = []
            continue
        for name in sorted(files):
            path = Path(directory, name)
            if name.lower().endswith(HTML_SUFFIXES) and _regular(path):
                found.append(path)
    return site_root(target, root), found


def site_root(target: Path, root: Path | None = None) -> Path:
    """Where a local target's /root-relative URLs start: `root`, else the directory, else the page's folder."""
    return root or (target if target.is_dir() else target.parent)


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def count_pages(targets: list[str], options: PageOptions) -> int | None:
    """How many pages a run will see, when that is known beforehand (no URL targets)."""
    if any(is_url(t) for t in targets):
        return None
    return sum(len(local_files(Path(t), options.out)[1]) for t in targets)


def local_pages(target: Path, options: PageOptions,
                worth_scanning: Callable[[bytes], bool] | None = None) -> Iterator[PageJob | SourceError]:
    root, files = local_files(target, options.out, options.root)
    for path in files:
        try:
            data = read_file(path)
            if worth_scanning is not None and not worth_scanning(data):
                continue
            mode = path.stat().st_mode & 0o7777
            relative = path.resolve().relative_to(root.resolve()) if options.root else path.relative_to(root)
        except SourceError as error:
            yield error
            continue
        except OSError as error:
            yield SourceError(str(path), error.strerror or str(error))
            continue
        except ValueError:
            yield SourceError(str(path), f"is not inside --root {root}")
            continue
        dest = options.out / relative if options.out else path.resolve()
        try:
            page = scan(data, overwrite=options.overwrite, fill_titled=options.fill_titled)
        except PageError as error:
            yield SourceError(str(path), str(error))
            continue
        site = root.resolve() if options.root else root
        yield PageJob(str(path), page_url(site / relative, site), site, data, page, dest, mode)


def crawl(start: str, options: PageOptions) -> Iterator[PageJob | SourceError]:
    """The page at `start` and, to --crawl-depth links away, same-origin pages robots.txt allows."""
    robots = Robots()
    queue, seen = deque([(start, 0)]), {start}
    origin = None
    while queue:
        url, depth = queue.popleft()
        if depth and not robots.allowed(url):
            continue
        try:
            data, final = fetch_url(url, accept=HTML_TYPES)
        except SourceError as error:
            yield error
            continue
        origin = origin or _origin(final)
        try:
            page = scan(data, overwrite=options.overwrite, fill_titled=options.fill_titled)
        except PageError as error:
            yield SourceError(final, str(error))
            continue
        dest = mirror_path(options.out, final) if options.out else None
        yield PageJob(final, final, None, data, page, dest)
        if depth < options.crawl_depth:
            for link in page_links(final, page, origin):
                if link not in seen:
                    seen.add(link)
                    queue.append((link, depth + 1))


def page_links(url: str, page: Scan, origin: str) -> list[str]:
    """Links on a page to other HTML pages of the same origin (no query strings)."""
    base = base_url(url, page.base)
    found = []
    for href in page.links:
        try:
            link = urldefrag(urljoin(base, href.strip())).url
            parts = urlsplit(link)
        except ValueError:
            continue
        if _origin(link) == origin and not parts.query and PAGE_LIKE.search(parts.path):
            found.append(link)
    return found


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def mirror_path(out: Path, url: str) -> Path:
    """Where a copy of the page at `url` goes under `out`: host/path, index.html for folders."""
    parts = urlsplit(url)
    segments = [s for s in unquote(parts.path).split("/") if s not in ("", ".", "..")]
    if not segments or parts.path.endswith("/") or "." not in segments[-1]:
        segments.append("index.html")
    return out.joinpath(parts.netloc.replace(":", "_"), *segments)


class Robots:
    """robots.txt of each origin, read once; a missing or unreadable one allows everything."""

    def __init__(self):
        self.parsers: dict[str, RobotFileParser] = {}

    def allowed(self, url: str) -> bool:
        origin = _origin(url)
        if origin not in self.parsers:
            parser = RobotFileParser(origin + "/robots.txt")
            try:
                body, _ = fetch_url(origin + "/robots.txt", accept=("text/",), max_bytes=512 * 1024)
                parser.parse(body.decode("utf-8", "replace").splitlines())
            except SourceError:
                parser.parse([])
            self.parsers[origin] = parser
        return self.parsers[origin].can_fetch(ROBOTS_AGENT, url)
