"""`fill` and `check`: pages → images that need alt → image bytes → captions → patched pages.

Pages are handled in batches: every page of a batch is scanned, the images they need are loaded
in parallel (each distinct image once per run), the ones not in the cache are captioned in one
call, and each page is then spliced and written atomically before the next batch starts.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import sqlite3
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from alttext import atomic
from alttext.describe import Description, apply_floor
from alttext.errors import AltTextError, SourceError
from alttext.fetch import fetch_url, is_url, read_file
from alttext.report import FILLED, FOR_REVIEW, KEPT, SKIPPED, Progress, Record, thumbnail
from alttext.resolve import Locator, Placeholder, check_image, load, locate, page_url
from alttext.scan import EMPTY, FILL, KEEP, NEEDS_ALT, REPORT, REVIEW, Image, Scan, scan
from alttext.splice import MARKER, alt_edit, apply

Describe = Callable[[list[tuple[str, bytes]]], list[Description]]

HTML_SUFFIXES = (".html", ".htm")
HTML_TYPES = ("text/html", "application/xhtml+xml")
PAGE_LIKE = re.compile(r"(?:^|/)(?:[^/.]*|[^/]*\.(?:html?|xhtml|php|aspx?|jsp|shtml))$", re.IGNORECASE)
ROBOTS_AGENT = "alttext"


@dataclass
class Options:
    out: Path | None = None  # mirror patched pages here instead of rewriting them
    dry_run: bool = False
    diff: bool = False  # print a unified diff instead of writing
    min_confidence: float | None = None
    overwrite: bool = False
    fill_titled: bool = False
    crawl_depth: int = 0
    marker: tuple[str, str] | None = MARKER
    thumbnails: bool = False  # keep small pictures for the --review page
    workers: int = 8
    batch_pages: int = 100


@dataclass
class PageJob:
    name: str  # as shown to people: the path or the final URL
    url: str  # what the page's relative URLs resolve against
    root: Path | None  # the local site root; None for pages on the web
    data: bytes
    scan: Scan
    dest: Path | None  # where the patched page goes
    mode: int | None = None  # file mode for a mirrored copy


@dataclass
class Run:
    pages: int = 0
    records: list[Record] = field(default_factory=list)
    failures: list[SourceError] = field(default_factory=list)


# ---------------------------------------------------------------- pages


def pages(targets: list[str], options: Options) -> Iterator[PageJob | SourceError]:
    for target in targets:
        if is_url(target):
            yield from crawl(target, options)
        else:
            yield from local_pages(Path(target), options)


def local_files(target: Path, out: Path | None) -> tuple[Path, list[Path]]:
    """The site root and the HTML files of a file or directory target."""
    if not target.is_dir():
        return target.parent, [target]
    skip = out.resolve() if out else None
    found = []
    for directory, subdirs, files in os.walk(target):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        if skip is not None and Path(directory).resolve() == skip:
            subdirs[:] = []
            continue
        for name in sorted(files):
            path = Path(directory, name)
            if name.lower().endswith(HTML_SUFFIXES) and not path.is_symlink():
                found.append(path)
    return target, found


def count_pages(targets: list[str], options: Options) -> int | None:
    """How many pages a run will see, when that is known beforehand (no URL targets)."""
    if any(is_url(t) for t in targets):
        return None
    return sum(len(local_files(Path(t), options.out)[1]) for t in targets)


def local_pages(target: Path, options: Options) -> Iterator[PageJob | SourceError]:
    root, files = local_files(target, options.out)
    for path in files:
        try:
            data = read_file(path)
            mode = path.stat().st_mode & 0o7777
        except SourceError as error:
            yield error
            continue
        dest = options.out / path.relative_to(root) if options.out else path.resolve()
        page = scan(data, overwrite=options.overwrite, fill_titled=options.fill_titled)
        yield PageJob(str(path), page_url(path, root), root, data, page, dest, mode)


def crawl(start: str, options: Options) -> Iterator[PageJob | SourceError]:
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
        page = scan(data, overwrite=options.overwrite, fill_titled=options.fill_titled)
        dest = mirror_path(options.out, final) if options.out else None
        yield PageJob(final, final, None, data, page, dest)
        if depth < options.crawl_depth:
            for link in page_links(final, page, origin):
                if link not in seen:
                    seen.add(link)
                    queue.append((link, depth + 1))


def page_links(url: str, page: Scan, origin: str) -> list[str]:
    """Links on a page to other HTML pages of the same origin (no query strings)."""
    base = urljoin(url, page.base) if page.base else url
    found = []
    for href in page.links:
        link = urldefrag(urljoin(base, href.strip())).url
        parts = urlsplit(link)
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


# ---------------------------------------------------------------- images


def cache_dir() -> Path:
    if os.environ.get("ALTTEXT_CACHE_DIR"):
        return Path(os.environ["ALTTEXT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alttext"


class Cache:
    """Descriptions kept between runs, keyed by image hash and model id (off without a model id)."""

    def __init__(self, model_id: str | None, directory: Path | None = None):
        self.model_id = model_id
        self.db = None
        if model_id is None:
            return
        directory = directory or cache_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(directory / "captions.sqlite3", timeout=30)
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS captions"
                " (model TEXT, digest TEXT, description TEXT, PRIMARY KEY (model, digest))"
            )
        except (OSError, sqlite3.Error):
            self.db = None  # a run without a cache is slower, not wrong

    def get(self, digest: str, source: str) -> Description | None:
        if self.db is None:
            return None
        try:
            row = self.db.execute(
                "SELECT description FROM captions WHERE model = ? AND digest = ?",
                (self.model_id, digest),
            ).fetchone()
            return Description(source=source, **json.loads(row[0])) if row else None
        except (sqlite3.Error, ValueError, TypeError):
            self.db = None
            return None

    def put(self, found: dict[str, Description]) -> None:
        if self.db is None:
            return
        rows = [
            (
                self.model_id,
                digest,
                json.dumps({k: v for k, v in asdict(d).items() if k != "source"}),
            )
            for digest, d in found.items()
            if d.action != "error"
        ]
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO captions VALUES (?, ?, ?)", rows)
        except sqlite3.Error:
            self.db = None


Chain = tuple[Locator, ...]  # the places an image's pixels may be, best first


class ImageDescriptions:
    """Image locations → descriptions: each distinct image loaded once, captioned once, cached."""

    def __init__(self, describe: Describe, cache: Cache, options: Options):
        self.describe = describe
        self.cache = cache
        self.options = options
        self.digests: dict[Chain, str | SourceError] = {}
        self.found: dict[str, Description] = {}
        self.thumbnails: dict[str, str | None] = {}

    def prepare(self, chains: set[Chain]) -> None:
        """Load the images not seen yet, in parallel, and describe those not cached."""
        new = [chain for chain in chains if chain not in self.digests]
        with ThreadPoolExecutor(self.options.workers) as pool:
            loaded = list(pool.map(self.load, new))
        pending: dict[str, tuple[str, bytes]] = {}
        for chain, result in zip(new, loaded):
            if isinstance(result, SourceError):
                self.digests[chain] = result
                continue
            locator, data, picture = result
            digest = hashlib.sha256(data).hexdigest()
            self.digests[chain] = digest
            self.thumbnails.setdefault(digest, picture)
            if digest not in self.found and digest not in pending:
                cached = self.cache.get(digest, str(locator))
                if cached is not None:
                    self.found[digest] = cached
                else:
                    pending[digest] = (str(locator), data)
        if pending:
            self.run_model(pending)

    def load(self, chain: Chain) -> tuple[Locator, bytes, str | None] | SourceError:
        """The first candidate that is a readable picture, or the first candidate's error. A tiny
        picture with nothing else behind it is a spacer: it goes to the describer, whose
        decoration rule gives it alt=""."""
        first_error = None
        for locator in chain:
            try:
                data = load(locator)
                check_image(data, str(locator))
            except Placeholder as error:
                if len(chain) > 1:
                    first_error = first_error or error
                    continue
            except SourceError as error:
                first_error = first_error or error
                continue
            return locator, data, thumbnail(data) if self.options.thumbnails else None
        return first_error

    def run_model(self, pending: dict[str, tuple[str, bytes]]) -> None:
        new = describe_all(self.describe, pending)
        self.found.update(new)
        self.cache.put(new)

    def result(self, chain: Chain) -> tuple[Description | SourceError, str | None]:
        """What was found for an image, and its thumbnail."""
        digest = self.digests[chain]
        if isinstance(digest, SourceError):
            return digest, None
        return self.found[digest], self.thumbnails.get(digest)


def describe_all(describe: Describe, pending: dict[str, tuple[str, bytes]]) -> dict[str, Description]:
    """digest → (source, bytes), described in one call: digest → Description (an error one for each when
    the model fails)."""
    items = list(pending.values())
    try:
        described = describe(items)
    except AltTextError as error:
        described = [Description(source, "error", reason=str(error)) for source, _ in items]
    if len(described) != len(items):
        raise AltTextError(f"the describer gave {len(described)} results for {len(items)}")
    return dict(zip(pending, described))


def image_chain(job: PageJob, image: Image) -> Chain | SourceError:
    """Where an image's pixels may be, best first; the first error when none may be read."""
    chain, first_error = [], None
    for source in image.sources:
        try:
            chain.append(locate(source, job.url, job.scan.base, job.root))
        except SourceError as error:
            first_error = first_error or error
    if chain:
        return tuple(chain)
    return first_error or SourceError(job.name, "no image source (src, srcset or data-src)")


# ---------------------------------------------------------------- one image, one page


def outcome(decision: str, context: str | None, found: Description,
            floor: float | None) -> tuple[str, str | None, str | None]:
    """What becomes of an image the rules sent to the describer (`decision` FILL or REVIEW, `context` the
    rules' reason) once it is described: (FILLED, FOR_REVIEW or SKIPPED, the alt to write or None, why).
    `serve` answers the browser extension with it, so that the extension writes what fill would."""
    if found.action == "error" or (found.action == "alt" and found.alt is None):
        return SKIPPED, None, found.reason or "no caption"
    if floor is not None:
        found = apply_floor(found, floor)
    reason = "; ".join(r for r in (context, found.reason) if r)
    if found.action == "review":
        return FOR_REVIEW, found.alt, reason
    return (FILLED if decision == FILL else FOR_REVIEW), found.alt, reason or None


def _captioned(record: Record, image: Image, found: Description, options: Options):
    record.confidence, record.kind = found.confidence, found.kind
    record.action, record.alt, record.reason = outcome(image.decision, image.reason, found, options.min_confidence)
    return record, record.alt


def unified_diff(name: str, old: bytes, new: bytes) -> bytes:
    lines = difflib.diff_bytes(
        difflib.unified_diff,
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        f"a/{name}".encode(),
        f"b/{name}".encode(),
    )
    return b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)


def write_page(job: PageJob, patched: bytes, options: Options, stdout: BinaryIO) -> None:
    """Print the diff, or write the page: in place when it changed, or into the --out mirror."""
    if options.diff and patched != job.data:
        stdout.write(unified_diff(job.name, job.data, patched))
    if options.dry_run or options.diff or job.dest is None:
        return
    if options.out is None and patched == job.data:
        return
    try:
        job.dest.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(job.dest, patched, job.mode if options.out else None)
    except OSError as error:
        raise SourceError(str(job.dest), f"cannot write: {error.strerror or error}") from None


# ---------------------------------------------------------------- runs


def fill(
    targets: list[str],
    describe: Describe,
    options: Options,
    progress: Progress | None = None,
    stdout: BinaryIO | None = None,
) -> Run:
    """Give every image that needs it alt text, in every page of the targets."""
    filling = Filling(describe, options, progress or Progress(total=count_pages(targets, options)))
    filling.stdout = stdout or sys.stdout.buffer
    found = pages(targets, options)
    while batch := list(islice(found, options.batch_pages)):
        filling.batch(batch)
    filling.progress.done()
    return filling.run


class Filling:
    """One fill run: batches of pages in, patched pages and report records out."""

    def __init__(self, describe: Describe, options: Options, progress: Progress):
        self.options = options
        self.progress = progress
        self.stdout: BinaryIO = sys.stdout.buffer
        self.descriptions = ImageDescriptions(describe, Cache(getattr(describe, "model_id", None)), options)
        self.run = Run()
        self.chains: dict[int, Chain | SourceError] = {}  # id(Image) → where its pixels are

    def batch(self, batch: list[PageJob | SourceError]) -> None:
        jobs = _note_failures(batch, self.run, self.progress)
        self.chains = {
            id(image): image_chain(job, image)
            for job in jobs
            for image in job.scan.images
            if image.decision in (FILL, REVIEW)
        }
        self.descriptions.prepare({c for c in self.chains.values() if not isinstance(c, SourceError)})
        for job in jobs:
            self.page(job)

    def page(self, job: PageJob) -> None:
        decided = [self.decide(job, image) for image in job.scan.images]
        edits = [
            alt_edit(job.scan.page, image, alt, self.options.marker)
            for image, (_, alt) in zip(job.scan.images, decided)
            if alt is not None
        ]
        self.run.pages += 1
        self.run.records += [record for record, _ in decided]
        try:
            write_page(job, apply(job.data, edits), self.options, self.stdout)
        except SourceError as failure:
            _note_failures([failure], self.run, self.progress)
        self.progress.advance(1, len(decided))

    def decide(self, job: PageJob, image: Image) -> tuple[Record, str | None]:
        """The report's record for one image, and the alt text to write (None: write nothing)."""
        record = Record(job.name, image.line, image.source, KEPT, reason=image.reason)
        if image.decision == KEEP:
            return record, None
        if image.decision == REPORT:
            record.action = FOR_REVIEW
            return record, None
        if image.decision == EMPTY:
            record.action, record.alt = FILLED, ""
            return record, ""
        chain = self.chains[id(image)]
        found, record.thumbnail = (chain, None) if isinstance(chain, SourceError) else self.descriptions.result(chain)
        if isinstance(found, SourceError):
            record.action, record.reason = SKIPPED, found.reason
            return record, None
        return _captioned(record, image, found, self.options)


def _note_failures(batch: list, run: Run, progress: Progress) -> list[PageJob]:
    """Count and show the failures in `batch`; return the pages that were read."""
    for failure in batch:
        if isinstance(failure, SourceError):
            run.failures.append(failure)
            progress.line(f"alttext: {failure}")
    return [job for job in batch if isinstance(job, PageJob)]


def check(targets: list[str], options: Options, progress: Progress | None = None) -> Run:
    """List every image that needs alt text or a person's review; write nothing."""
    progress = progress or Progress(total=count_pages(targets, options))
    run = Run()
    for job in pages(targets, options):
        if isinstance(job, SourceError):
            _note_failures([job], run, progress)
            continue
        needing = [i for i in job.scan.images if i.decision in NEEDS_ALT]
        run.pages += 1
        run.records += [Record(job.name, i.line, i.source, i.decision, reason=i.reason) for i in needing]
        progress.advance(1, len(job.scan.images))
    progress.done()
    return run
