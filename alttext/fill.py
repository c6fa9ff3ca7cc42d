"""`fill`: pages → images that need alt → image bytes → captions → patched pages.

Before any page is written, a first pass reads the pictures that people gave alt text (reuse.py). Then
pages (from pages.py) are handled in batches: every page of a batch is scanned, the images they need
are loaded in parallel (each distinct image once per run); a person's decision in the site's decisions
file (decisions.py) or a person's alt for the same picture on another page answers first; the rest not
in the cache (cache.py) are captioned in one call, and each page is then spliced and written atomically
before the next batch starts.
"""

from __future__ import annotations

import difflib
import hashlib
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from alttext import atomic, suspicious
from alttext.cache import Cache
from alttext.decisions import Answer, SiteDecisions
from alttext.describe import Description, apply_floor, english_only, flag_repeats, guess_of
from alttext.errors import AltTextError, SourceError
from alttext.fetch import is_url
from alttext.hints import suggestions
from alttext.kinds import DEFAULT_ACTIONS
from alttext.ocr import language
from alttext.pages import PageJob, count_pages, pages, site_root
from alttext.report import FILLED, FOR_REVIEW, KEPT, SKIPPED, Progress, Record, short, thumbnail
from alttext.resolve import Locator, Placeholder, check_image, load, locate
from alttext.reuse import SiteAlts, Written, human_alt, may_hold_human_alt
from alttext.scan import EMPTY, FILL, KEEP, REPORT, REVIEW, Image
from alttext.splice import MARKER, alt_edit, apply, review_marker

Describe = Callable[[list[tuple[str, bytes, str]]], list[Description]]  # (source, bytes, page language)


@dataclass
class Options:
    out: Path | None = None  # mirror patched pages here instead of rewriting them
    root: Path | None = None  # the local site root, for root-relative URLs (default: the target)
    remote_images: bool = False  # read images on the web for local pages
    write_read_only: bool = False  # rewrite pages that have no write permission
    dry_run: bool = False
    diff: bool = False  # print a unified diff instead of writing
    min_confidence: float | None = None
    overwrite: bool | str = False  # True: every person's alt; scan.SUSPICIOUS: only those that say nothing
    fill_titled: bool = False
    crawl_depth: int = 0
    marker: tuple[str, str] | None = MARKER
    thumbnails: bool = False  # keep small pictures for the --review page
    workers: int = 8
    batch_pages: int = 100
    reuse: bool = True  # give a picture the alt a person wrote for the same bytes on another page
    decisions: Path | None = None  # the decisions file (default: .alttext.json at each site root)


@dataclass
class Run:
    pages: int = 0
    records: list[Record] = field(default_factory=list)
    failures: list[SourceError] = field(default_factory=list)  # pages that could not be read or written
    failed_images: int = 0  # images that needed alt and got none: unreadable, or the model failed

    @property
    def failed(self) -> bool:
        return bool(self.failures or self.failed_images)


# ---------------------------------------------------------------- images


Chain = tuple[Locator, ...]  # the places an image's pixels may be, best first
REPEATS = 'its alt would repeat the text beside it (axe image-redundant-alt): alt=""'
Wanted = tuple[str, str]  # (digest, the page's language as ocr.language gives it): a description wanted


def key(digest: str, lang: str) -> str:
    """Where a description is kept (in `found` and the cache): by digest, with the page's language added
    for a description that depends on it on a page not in English (a key without one is English)."""
    return digest if lang == "en" else f"{digest}@{lang}"


def lookup(get: Callable[[str], Description | None], wanted: str, reading: set[str]) -> tuple[str, Description] | None:
    """(where it was kept, the description) for `wanted` (a key()): its own, or the digest's when its kind is
    not one OCR reads (it holds for every language); None when `get` has neither."""
    for place in dict.fromkeys((wanted, wanted.partition("@")[0])):
        found = get(place)
        if found is not None and (place == wanted or found.kind not in reading):
            return place, found
    return None


def place(wanted: str, found: Description, reading: set[str]) -> str:
    """Where a description made for `wanted` (a key()) is kept: there when its kind is read by OCR, else by
    the digest alone, for every language."""
    return wanted if found.kind in reading else wanted.partition("@")[0]


def reading_kinds(describe: Describe) -> set[str]:
    """The kinds whose description depends on the page's language: those OCR reads."""
    actions = getattr(describe, "actions", DEFAULT_ACTIONS)
    return {kind for kind, action in actions.items() if action in ("words", "screenshot")}


class ImageDescriptions:
    """Image locations → descriptions: each distinct image loaded once, captioned once, cached. Pictures
    read by OCR (text, screenshots) are described once per page language; the rest once in all."""

    def __init__(self, describe: Describe, cache: Cache, options: Options):
        self.describe = describe
        self.cache = cache
        self.options = options
        self.digests: dict[Chain, str | SourceError] = {}
        self.chains: dict[str, Chain] = {}  # digest → a chain that has those bytes
        self.loaded: dict[str, tuple[str, bytes]] = {}  # digest → (source, bytes), until described
        self.found: dict[str, Description] = {}  # key() → description
        self.reading = reading_kinds(describe)
        self.thumbnails: dict[str, str | None] = {}

    def load_all(self, chains: set[Chain]) -> None:
        """Load the images not seen yet, in parallel: each chain gets its picture's digest (or error)."""
        new = [chain for chain in chains if chain not in self.digests]
        with ThreadPoolExecutor(self.options.workers) as pool:
            loaded = list(pool.map(self.load, new))
        for chain, result in zip(new, loaded):
            self.note(chain, result)

    def note(self, chain: Chain, result: tuple[Locator, bytes, str | None] | SourceError) -> None:
        if isinstance(result, SourceError):
            self.digests[chain] = result
            return
        locator, data, picture = result
        digest = hashlib.sha256(data).hexdigest()
        self.digests[chain] = digest
        self.chains.setdefault(digest, chain)
        self.thumbnails.setdefault(digest, picture)
        if digest not in self.found:
            self.loaded.setdefault(digest, (str(locator), data))

    def describe_digests(self, wanted: set[Wanted]) -> None:
        """Describe these loaded pictures, from the cache or in model calls; forget the loaded bytes. A
        picture wanted in several languages is described in one first, and again in the others only when
        its kind is read by OCR."""
        pending: dict[Wanted, tuple[str, bytes]] = {}
        for digest, lang in sorted(wanted):
            if self.known(digest, lang) is None:
                source, data = self.loaded.get(digest) or self.reload(digest)
                if not self.cached(digest, lang, source):
                    pending[(digest, lang)] = (source, data)
        self.loaded.clear()
        first: dict[str, Wanted] = {}  # each picture in one language
        for digest, lang in pending:
            first.setdefault(digest, (digest, lang))
        self.run_model({wanted: pending[wanted] for wanted in first.values()})
        self.run_model({(digest, lang): item for (digest, lang), item in pending.items()
                        if self.known(digest, lang) is None})

    def known(self, digest: str, lang: str) -> Description | None:
        """The description found for a picture on a page in `lang`: its own, or one that holds for all."""
        found = lookup(self.found.get, key(digest, lang), self.reading)
        return found[1] if found else None

    def cached(self, digest: str, lang: str, source: str) -> bool:
        """Whether the cache has the picture's description for `lang` (now in `found`)."""
        found = lookup(lambda kept: self.cache.get(kept, source), key(digest, lang), self.reading)
        if found:
            self.found[found[0]] = found[1]
        return found is not None

    def reload(self, digest: str) -> tuple[str, bytes]:
        """The bytes of a picture seen in the first pass, whose bytes were let go."""
        result = self.load(self.chains[digest])
        if isinstance(result, SourceError):
            return str(self.chains[digest][0]), b""  # changed since: the describer says why
        return str(result[0]), result[1]

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

    def run_model(self, pending: dict[Wanted, tuple[str, bytes]]) -> None:
        if not pending:
            return
        described = describe_all(self.describe, {(d, lang): (*item, lang) for (d, lang), item in pending.items()})
        new = {place(key(d, lang), found, self.reading): found for (d, lang), found in described.items()}
        self.found.update(new)
        self.cache.put(new)

    def result(self, chain: Chain, lang: str | None) -> tuple[Description | SourceError, str | None]:
        """What was found for an image on a page in `lang`, and its thumbnail."""
        digest = self.digests[chain]
        if isinstance(digest, SourceError):
            return digest, None
        return self.known(digest, language(lang)), self.thumbnails.get(digest)


def describe_all(describe: Describe, pending: dict) -> dict:
    """key → (source, bytes[, page language]), described in one call: key → Description (an error one for
    each when the model fails)."""
    items = list(pending.values())
    try:
        described = describe(items)
    except AltTextError as error:
        described = [Description(source, "error", reason=str(error)) for source, *_ in items]
    if len(described) != len(items):
        raise AltTextError(f"the describer gave {len(described)} results for {len(items)}")
    return dict(zip(pending, described))


def image_chain(job: PageJob, image: Image, remote: bool = True) -> Chain | SourceError:
    """Where an image's pixels may be, best first; the first error when none may be read."""
    chain, first_error = [], None
    for source in image.sources:
        try:
            chain.append(locate(source, job.url, job.scan.base, job.root, remote))
        except SourceError as error:
            first_error = first_error or error
    if chain:
        return tuple(chain)
    return first_error or SourceError(job.name, "no image source (src, srcset or data-src)")


# ---------------------------------------------------------------- one image, one page


def outcome(decision: str, context: str | None, found: Description,
            floor: float | None, lang: str | None = None) -> tuple[str, str | None, str | None]:
    """What becomes of an image the rules sent to the describer (`decision` FILL or REVIEW, `context` the
    rules' reason, `lang` the page's language there) once it is described: (FILLED, FOR_REVIEW or
    SKIPPED, the alt to write or None, why). `serve` answers the browser extension with it, so that the
    extension writes what fill would."""
    if found.action == "error" or (found.action == "alt" and found.alt is None):
        return SKIPPED, None, found.reason or "no caption"
    if floor is not None:
        found = apply_floor(found, floor)
    found = english_only(found, lang)
    reason = "; ".join(r for r in (context, found.reason) if r)
    if found.action == "review":
        return FOR_REVIEW, found.alt, reason
    return (FILLED if decision == FILL else FOR_REVIEW), found.alt, reason or None


def _captioned(record: Record, image: Image, found: Description, options: Options):
    record.confidence, record.kind = found.confidence, found.kind
    record.action, record.alt, record.reason = outcome(image.decision, image.reason, found, options.min_confidence,
                                                       image.lang)
    if record.alt is None and (guess := guess_of(found)):  # the model's, after the page's own words
        record.suggestions = list(dict.fromkeys([*(record.suggestions or []), guess]))
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
        if options.out is None:
            atomic.replace(job.dest, patched, job.data, options.write_read_only)
        else:
            job.dest.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(job.dest, patched, job.mode)
    except atomic.Refused as refused:
        raise SourceError(str(job.dest), str(refused)) from None
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
    roots = [site_root(Path(t), options.root) for t in targets if not is_url(t)]
    decisions = SiteDecisions(roots, options.decisions)  # a broken file stops the run before any write
    filling = Filling(describe, options, progress or Progress(total=count_pages(targets, options)), decisions)
    filling.stdout = stdout or sys.stdout.buffer
    if not (options.dry_run or options.diff):
        for folder in [Path(t) for t in targets if Path(t).is_dir()] + ([options.out] if options.out else []):
            atomic.clean_stale(folder)
    if options.reuse:
        found = pages(targets, options, may_hold_human_alt)
        while batch := list(islice(found, options.batch_pages)):
            filling.learn([job for job in batch if isinstance(job, PageJob)])
    found = pages(targets, options)
    while batch := list(islice(found, options.batch_pages)):
        filling.batch(batch)
    filling.progress.done()
    return filling.run


class Filling:
    """One fill run: batches of pages in, patched pages and report records out."""

    def __init__(self, describe: Describe, options: Options, progress: Progress, decisions: SiteDecisions):
        self.options = options
        self.progress = progress
        self.decisions = decisions
        self.site = SiteAlts()
        self.stdout: BinaryIO = sys.stdout.buffer
        self.descriptions = ImageDescriptions(describe, Cache(getattr(describe, "model_id", None)), options)
        self.run = Run()
        self.chains: dict[int, Chain | SourceError] = {}  # id(Image) → where its pixels are
        self.answers: dict[int, Answer] = {}  # id(Image) → what the site already says for it

    def learn(self, jobs: list[PageJob]) -> None:
        """The first pass: note the alt people wrote for each picture (by its bytes) on these pages."""
        marker_name = self.options.marker[0] if self.options.marker else None
        written = [
            (chain, Written(alt, job.name, image.line, image.context))
            for job in jobs
            for image in job.scan.images
            if (alt := human_alt(image, marker_name)) is not None
            and not isinstance(chain := image_chain(job, image, self.options.remote_images), SourceError)
        ]
        self.descriptions.load_all({chain for chain, _ in written})
        self.descriptions.loaded.clear()
        for chain, alt in written:
            digest = self.descriptions.digests[chain]
            if isinstance(digest, str):
                self.site.add(digest, alt)

    def batch(self, batch: list[PageJob | SourceError]) -> None:
        jobs = _note_failures(batch, self.run, self.progress)
        needing = [(job, image) for job in jobs for image in job.scan.images if image.decision in (FILL, REVIEW)]
        self.chains = {id(image): image_chain(job, image, self.options.remote_images) for job, image in needing}
        self.descriptions.load_all({c for c in self.chains.values() if not isinstance(c, SourceError)})
        self.answers, model = {}, set()
        for job, image in needing:
            digest = self.digest(image)
            if digest is None:
                continue
            answer = self.decisions.answer(job.root, digest) or self.site.answer(digest, image)
            if answer is not None:
                self.answers[id(image)] = answer
            if answer is None or answer.alt is None:
                model.add((digest, language(image.lang)))
        self.descriptions.describe_digests(model)
        for job in jobs:
            self.page(job)

    def digest(self, image: Image) -> str | None:
        chain = self.chains[id(image)]
        digest = None if isinstance(chain, SourceError) else self.descriptions.digests[chain]
        return digest if isinstance(digest, str) else None

    def page(self, job: PageJob) -> None:
        decided = [unrepeated(image, *self.decide(job, image)) for image in job.scan.images]
        decided = list(zip(flag_repeats([record for record, _ in decided]), [alt for _, alt in decided]))
        marker = self.options.marker
        edits = [
            alt_edit(job.scan.page, image, alt, review_marker(marker) if record.action == FOR_REVIEW else marker)
            for image, (record, alt) in zip(job.scan.images, decided)
            if alt is not None
        ]
        self.run.pages += 1
        self.run.records += [record for record, _ in decided]
        for record, _ in decided:
            if record.action == SKIPPED:
                self.run.failed_images += 1
                self.progress.line(f"alttext: {record.page}:{record.line}: {short(record.source)}: {record.reason}")
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
        record.suggestions = suggestions(image) or None
        if image.decision == REPORT:
            record.action = FOR_REVIEW
            return record, None
        if image.decision == EMPTY:
            record.action, record.alt = FILLED, ""
            return record, ""
        chain = self.chains[id(image)]
        record.picture = self.digest(image)
        answer = self.answers.get(id(image))
        if answer is not None and answer.alt is not None:
            record.thumbnail = self.descriptions.thumbnails.get(record.picture)
            record.action, record.alt = (FOR_REVIEW if answer.review else FILLED), answer.alt
            record.reason, record.origin = answer.reason, answer.origin
            return record, answer.alt
        found, record.thumbnail = (chain, None) if isinstance(chain, SourceError) \
            else self.descriptions.result(chain, image.lang)
        if isinstance(found, SourceError):
            record.action, record.reason = SKIPPED, found.reason
            return record, None
        record, alt = _captioned(record, image, found, self.options)
        record.origin = "model"
        if answer is not None and record.action != SKIPPED:  # people disagree on this picture: a person decides
            record.action, record.reason = FOR_REVIEW, "; ".join(r for r in (record.reason, answer.reason) if r)
        return record, alt


def unrepeated(image: Image, record: Record, alt: str | None) -> tuple[Record, str | None]:
    """alt="" instead of an alt that would repeat the text beside a plain image (its paragraph's, list
    item's or cell's text, or its figure's caption): that text already says it (axe image-redundant-alt)."""
    if image.decision != FILL or not alt or not suspicious.repeats(alt, (image.nearby_text, image.figcaption)):
        return record, alt
    record.action, record.alt = FILLED, ""
    record.reason = "; ".join(r for r in (record.reason, REPEATS) if r)
    return record, ""


def _note_failures(batch: list, run: Run, progress: Progress) -> list[PageJob]:
    """Count and show the failures in `batch`; return the pages that were read."""
    for failure in batch:
        if isinstance(failure, SourceError):
            run.failures.append(failure)
            progress.line(f"alttext: {failure}")
    return [job for job in batch if isinstance(job, PageJob)]
