"""`alttext review SITE`: a local web page (Starlette on uvicorn, serve.py's server and guard) listing each
distinct picture that needs a person once: images without alt and machine alt awaiting review, as `check`
finds them, grouped by the SHA-256 of their bytes. A decision (a person's alt, or decorative) is written
to the site's decisions file (decisions.py) and spliced into every page that shows the picture (splice.py,
atomic.py through fill.write_page), so this run and every later `fill` agree.

    GET  /            the page
    POST /v1/decide   {"digest", "alt"} or {"digest", "decorative": true} or {"digest", "skip": true}
                   -> {"pages": N patched, "decided": N, "total": N}
    GET  /site/...    the site's files, for the links to the pages
"""

from __future__ import annotations

import datetime
import html
import json
import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from alttext import atomic, decisions
from alttext.cache import Cache
from alttext.check import MISSING, REVIEW, image_finding
from alttext.errors import SourceError
from alttext.fill import ImageDescriptions, Options, image_chain, write_page
from alttext.hints import suggestions
from alttext.options import say
from alttext.pages import PageJob, pages
from alttext.scan import EMPTY, NEEDS_ALT, Image
from alttext.serve import JSON, Guard, Refusal, Server, is_loopback, json_body, refused, run
from alttext.splice import MARKER, REVIEW_STATE, Edit, alt_edit, apply

DEFAULT_PORT = 8766
NOTE = "from alttext review"


@dataclass
class Place:
    page: str  # as shown to people
    link: str  # its path under the site, for /site/
    line: int


@dataclass
class Picture:
    digest: str
    source: str
    thumbnail: str | None
    places: list[Place] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    machine: bool = False  # one of its images holds a machine alt awaiting review
    decided: str | None = None  # "alt", "decorative" or "skipped"


def needs_person(image: Image) -> bool:
    """An image `review` lists: no alt that `fill` would fill alone, or a machine alt awaiting review."""
    finding = image_finding("", image)
    if finding is None or finding.severity not in (MISSING, REVIEW) or image.element not in ("img", "input"):
        return False
    return finding.severity == REVIEW or image.decision != EMPTY  # EMPTY: fill writes alt="" by the rules


def awaiting_review(image: Image) -> bool:
    return image.generated is not None and REVIEW_STATE in image.generated.split()


class Site:
    """The pictures of one site that need a person, and the decisions made about them."""

    def __init__(self, site: Path, decisions_path: Path, report: list[dict] | None = None):
        self.site = site
        self.decisions_path = decisions_path
        self.options = Options(root=site, thumbnails=True)
        self.images = ImageDescriptions(lambda items: [], Cache(None), self.options)
        self.pictures: dict[str, Picture] = {}
        self.failures: list[SourceError] = []
        self.lock = threading.Lock()
        self.known = {(r.get("page"), r.get("line")): r for r in report or []}
        decisions.load(decisions_path, False)  # a broken file stops the review before the page is served

    def gather(self) -> None:
        found: list[tuple[PageJob, Image, tuple]] = []
        for job in pages([str(self.site)], self.options):
            if isinstance(job, SourceError):
                self.failures.append(job)
                continue
            for image in job.scan.images:
                chain = image_chain(job, image, False) if needs_person(image) else None
                if isinstance(chain, SourceError):
                    self.failures.append(chain)
                elif chain is not None:
                    found.append((job, image, chain))
        self.images.load_all({chain for _, _, chain in found})
        self.images.loaded.clear()
        for job, image, chain in found:
            self.note(job, image, chain)

    def note(self, job: PageJob, image: Image, chain: tuple) -> None:
        digest = self.images.digests[chain]
        if isinstance(digest, SourceError):
            self.failures.append(digest)
            return
        picture = self.pictures.setdefault(digest, Picture(digest, image.source, self.images.thumbnails.get(digest)))
        picture.places.append(Place(job.name, Path(job.name).relative_to(self.site).as_posix(), image.line))
        known = self.known.get((job.name, image.line), {})
        offered = [image.alt.strip()] if awaiting_review(image) and image.alt else []  # the machine's, first
        offered += [known["alt"]] if known.get("alt") else []
        picture.machine = picture.machine or awaiting_review(image)
        picture.suggestions = list(dict.fromkeys([*offered, *picture.suggestions, *suggestions(image),
                                                  *(known.get("suggestions") or [])]))
        picture.reasons = list(dict.fromkeys([*picture.reasons, known.get("reason") or image.reason]))
        picture.kinds = list(dict.fromkeys([*picture.kinds, *([known["kind"]] if known.get("kind") else [])]))

    def decide(self, digest: str, alt: str | None) -> int:
        """Remember a person's alt (None: decorative) for the picture and patch its pages; the pages patched."""
        picture = self.pictures[digest]
        entry = {"decorative": True} if alt is None else {"alt": alt}
        with self.lock:
            current = decisions.load(self.decisions_path, False).entries
            current[digest] = {**entry, "date": datetime.date.today().isoformat(), "note": NOTE}
            atomic.write_bytes(self.decisions_path, decisions.dumps(current).encode("utf-8"))
            patched = sum(self.patch(self.site / link, digest, alt or "")
                          for link in dict.fromkeys(place.link for place in picture.places))
            picture.decided = "decorative" if alt is None else "alt"
        return patched

    def skip(self, digest: str) -> None:
        self.pictures[digest].decided = "skipped"

    def patch(self, path: Path, digest: str, alt: str) -> bool:
        """Write `alt` on every image of the page that shows the picture and needs a person; True if it changed."""
        options = replace(self.options, overwrite=True)  # so a machine alt has its span to replace
        for job in pages([str(path)], options):
            if isinstance(job, SourceError):
                raise job
            edits = [edit for image in job.scan.images if self.shows(job, image, digest)
                     for edit in decision_edits(job, image, alt)]
            if edits:
                write_page(job, apply(job.data, edits), options, sys.stdout.buffer)
                return True
        return False

    def shows(self, job: PageJob, image: Image, digest: str) -> bool:
        if image.decision not in NEEDS_ALT or (image.alt and image.alt.strip() and not awaiting_review(image)):
            return False  # a person's alt stays
        chain = image_chain(job, image, False)
        if isinstance(chain, SourceError):
            return False
        self.images.load_all({chain})
        self.images.loaded.clear()
        return self.images.digests[chain] == digest

    @property
    def decided(self) -> int:
        return sum(p.decided is not None for p in self.pictures.values())


def decision_edits(job: PageJob, image: Image, alt: str) -> list[Edit]:
    """The alt, and a machine alt's marker no longer saying it awaits review."""
    edits = [alt_edit(job.scan.page, image, alt, MARKER)]
    if awaiting_review(image):
        waiting = job.scan.page.encode(f'{MARKER[0]}="{MARKER[1]} {REVIEW_STATE}"')
        at = job.data.find(waiting, image.start, image.end)
        if at >= 0:
            edits.append(Edit(at, at + len(waiting), job.scan.page.encode(f'{MARKER[0]}="{MARKER[1]}"')))
    return edits


# ---------------------------------------------------------------- HTTP


async def page(request: Request) -> Response:
    return HTMLResponse(render(request.app.state.site))


async def decide(request: Request) -> Response:
    site: Site = request.app.state.site
    try:
        payload = await json_body(request)
        digest, alt, decorative, skip = parse(payload, site)
    except Refusal as refusal:
        return refused(refusal.status, refusal.error)
    if skip:
        site.skip(digest)
        patched = 0
    else:
        try:
            patched = await run_in_threadpool(site.decide, digest, None if decorative else alt)
        except (SourceError, OSError, decisions.DecisionsError) as error:
            return refused(500, str(error))
    return JSON({"pages": patched, "decided": site.decided, "total": len(site.pictures)})


def parse(payload, site: Site) -> tuple[str, str, bool, bool]:
    if not isinstance(payload, dict) or payload.get("digest") not in site.pictures:
        raise Refusal(400, "expected {\"digest\": one of the listed pictures, ...}")
    alt = payload.get("alt")
    alt = " ".join(alt.split()) if isinstance(alt, str) else ""
    decorative, skip = payload.get("decorative") is True, payload.get("skip") is True
    if not (alt or decorative or skip):
        raise Refusal(400, "write alt text, or mark the picture decorative, or skip it")
    return payload["digest"], alt, decorative, skip


async def not_found(request: Request, error: HTTPException) -> Response:
    return refused(error.status_code, str(error.detail))


def app_of(site: Site):
    def make(url: str):
        app = Starlette(routes=[Route("/", page, methods=["GET"]), Route("/v1/decide", decide, methods=["POST"]),
                                Mount("/site", StaticFiles(directory=site.site))],
                        exception_handlers={HTTPException: not_found})
        app.state.site = site
        return Guard(app, urlsplit(url).hostname or "", own_origin=url)

    return make


# ---------------------------------------------------------------- the page


def render(site: Site) -> str:
    pictures = list(site.pictures.values())
    sections = "\n".join(render_picture(n, len(pictures), p) for n, p in enumerate(pictures, 1))
    total = len(pictures)
    return TEMPLATE.format(site=html.escape(str(site.site)), total=total, decided=site.decided,
                           sections=sections or "<p>No picture needs a person.</p>", script=SCRIPT)


def render_picture(n: int, total: int, picture: Picture) -> str:
    e = html.escape
    state = "machine alt awaiting review" if picture.machine else "no alt text"
    thumb = (f'<img class="thumb" src="{e(picture.thumbnail)}" alt="">' if picture.thumbnail
             else "<p>No preview: the picture could not be decoded.</p>")
    places = "".join(f'<li><a href="/site/{e(place.link)}">{e(place.page)}</a>, line {place.line}</li>'
                     for place in picture.places)
    offered = "".join(f'<li><button type="button" class="use">{e(text)}</button></li>' for text in picture.suggestions)
    first = picture.suggestions[0] if picture.suggestions else ""
    return f"""<section class="picture" id="p{n}" data-digest="{picture.digest}" aria-labelledby="h{n}">
<h2 id="h{n}" tabindex="-1">Picture {n} of {total}: {state}</h2>
<div class="body">{thumb}
<div>
<p><strong>Kind:</strong> {e(", ".join(picture.kinds) or "not known (give --report from fill to see it)")}</p>
<p><strong>Why:</strong> {e("; ".join(r for r in picture.reasons if r))}</p>
<p><strong>File:</strong> <code>{e(picture.source)}</code></p>
<h3>Shown on {len(picture.places)} {"page" if len(picture.places) == 1 else "pages"}</h3>
<ul>{places}</ul>
{f'<h3>Suggestions</h3><ul class="offered">{offered}</ul>' if offered else ""}
<form class="decide">
<label for="alt{n}">Alt text for picture {n}</label>
<textarea id="alt{n}" name="alt" rows="2">{e(first)}</textarea>
<div class="actions">
<button type="submit" class="accept">Accept <kbd>A</kbd></button>
<button type="button" class="decorative">Decorative <kbd>D</kbd></button>
<button type="button" class="skip">Skip <kbd>S</kbd></button>
</div>
</form>
<p class="outcome" id="out{n}"></p>
</div></div>
</section>"""


TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>alttext review: {site}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; color: #1f2328; }}
.picture {{ border-top: 1px solid #8c959f; padding: 0.5rem 0 1rem; }}
.picture.done {{ opacity: 0.75; }}
.body {{ display: flex; gap: 1rem; flex-wrap: wrap; }}
.body > div {{ flex: 1 1 24rem; min-width: 0; }}
.thumb {{ max-width: 160px; max-height: 160px; border: 1px solid #8c959f; }}
textarea {{ width: 100%; font: inherit; box-sizing: border-box; }}
label {{ font-weight: bold; display: block; }}
.actions {{ display: flex; gap: 0.5rem; margin-top: 0.5rem; }}
button {{ font: inherit; padding: 0.25rem 0.75rem; }}
:focus-visible {{ outline: 3px solid #0969da; outline-offset: 2px; }}
code {{ word-break: break-all; }}
#progress {{ position: sticky; top: 0; background: #fff; padding: 0.5rem 0; font-weight: bold; margin: 0; }}
</style>
</head>
<body>
<header>
<h1>alttext review</h1>
<p>Site: <code>{site}</code>. Each picture that needs a person is listed once; a decision is written to every
page that shows it and remembered in the site's decisions file.</p>
<p>Keys (outside the text box): <kbd>A</kbd> accept the text, <kbd>E</kbd> edit it, <kbd>D</kbd> decorative,
<kbd>S</kbd> skip, <kbd>N</kbd> next picture, <kbd>P</kbd> previous. In the text box, <kbd>Enter</kbd> accepts.</p>
</header>
<main>
<p id="progress" role="status" aria-live="polite">{decided} of {total} pictures done</p>
{sections}
</main>
<script>{script}</script>
</body>
</html>
"""

SCRIPT = (Path(__file__).resolve().parent / "review.js").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the command


def review(
    site: Annotated[Path, typer.Argument(help="The site's folder.")],
    decisions_file: Annotated[Path | None, typer.Option(
        "--decisions", help="The decisions file to write (default: SITE/.alttext.json).")] = None,
    report: Annotated[Path | None, typer.Option(
        help="A `fill --report` JSON of the site: the model's suggestion and each picture's kind.")] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Address to listen on; keep it on this machine.")] = "127.0.0.1",
) -> None:
    """A local page to decide, picture by picture, what the machine could not; until Ctrl-C."""
    if not site.is_dir():
        say(f"{site}: not a folder")
        raise typer.Exit(2)
    if not is_loopback(host):
        say(f"{host}: review listens on this machine only (127.0.0.1, ::1 or localhost)")
        raise typer.Exit(2)
    try:
        found = Site(site, decisions_file or site / decisions.DEFAULT_NAME, read_report(report))
    except (decisions.DecisionsError, SourceError) as error:
        say(str(error))
        raise typer.Exit(1) from None
    found.gather()
    for failure in found.failures:
        say(str(failure))
    try:
        server = Server(None, host, port, app_of(found))
    except OSError as error:
        say(f"cannot listen on {host}:{port} ({error.strerror or error})")
        raise typer.Exit(1) from None
    run(server, f"{len(found.pictures)} pictures need a person; open {server.url}/ (Ctrl-C stops it)")
    say(f"stopped: {found.decided} of {len(found.pictures)} pictures done")


def read_report(path: Path | None) -> list[dict] | None:
    if path is None:
        return None
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise SourceError(str(path), f"cannot read the report ({getattr(error, 'strerror', None) or error})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SourceError(str(path), "not a fill --report JSON (a list of records)")
    if not all(texts(r.get("suggestions") or []) for r in records):
        raise SourceError(str(path), "not a fill --report JSON (a record's suggestions are not a list of texts)")
    return records


def texts(found) -> bool:
    return isinstance(found, list) and all(isinstance(text, str) for text in found)
