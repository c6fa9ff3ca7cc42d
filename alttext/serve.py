"""`alttext serve`: a local HTTP service (Starlette on uvicorn) that the browser extension asks for alt text.

It describes only the image bytes it is sent and never fetches a URL (a web page could otherwise use
it to reach the intranet). It answers requests that carry no Origin (curl, scripts) or a browser
extension's, and refuses ordinary web origins, so a page cannot use it either directly or through DNS
rebinding (the Host must be this machine). Each image gets the decision `fill` makes: the rules'
verdict from where the image sits (scan.context_decision, from the facts the extension found in the
page), a person's decision for the picture in the site's decisions file (--decisions, answered without
the model), the describer, then fill.outcome. Descriptions are kept in memory by the image's SHA-256.

    GET  /v1/health    {"service", "version", "model", "device", "device_note", "limits", ...}
    POST /v1/describe  {"images": [{"source": URL, "data": BASE64, "context": {...}, "lang": TAG}, ...],
                        "ask": false}
                    -> application/x-ndjson, one line per image as soon as it is ready (not in order):
                       {"index", "source", "action", "alt", "guess", "kind", "confidence", "reason", "origin"}

`context`: "element" ("img" or "input"), "role" (the image's own role), "control" (the tag name of
the link or button it sits in, or null), "controlHasText" (that link or button already has words),
"notes" (what the rules noted, e.g. "alt was only whitespace"). `lang`: the page's language at the
image (its nearest `lang`, else `<html lang>`; absent or null: English), as fill uses it: it chooses
OCR's language, and an English sentence on a page in another language is flagged, not written.
`action` is fill's: "filled", "review" (alt is written only when it is not null) or "skipped"; `alt`
is what fill would write; `guess` the model's caption when it is not written (under the review
threshold). With "ask": true (a reader asked for a description) the context is not consulted:
`action` is "described" and `alt` the model's best description, under the threshold too.
`origin` is "decision" when the decisions file answered (a person's alt, or "" for decorative), else null.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import json
import math
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import h11
import typer
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from alttext import __version__
from alttext import fill as pipeline
from alttext.decisions import Decisions, DecisionsError, load
from alttext.describe import Description, guess_of
from alttext.errors import SourceError
from alttext.fetch import MAX_BYTES
from alttext.fill_cli import load_describer
from alttext.images import decoded_pixels
from alttext.ocr import language
from alttext.options import (
    OCR_BUDGET_S,
    BatchOption,
    DeviceOption,
    KindActionOption,
    MinConfidenceOption,
    ModelOption,
    OcrTimeoutOption,
    check_device,
    kind_actions,
    say,
)
from alttext.report import FILLED, SKIPPED
from alttext.resolve import Placeholder, check_image
from alttext.scan import EMPTY, FILL, context_decision

EXTENSION_DIR = Path(__file__).resolve().parent / "extension"
DEFAULT_PORT = 8765
MAX_BODY = 32 * 1024 * 1024  # one image of fetch.MAX_BYTES (20 MB) fits, base64-encoded
MAX_IMAGES = 256  # per request
MAX_REQUEST_PIXELS = 200_000_000  # decoded, per request; images past it are answered "skipped"
REQUEST_SECONDS = 120  # an image not described by then is answered "skipped" (the service is busy)
MAX_WAITING = 512  # images waiting for the model, all requests together; past it a request gets 503
CACHE_ENTRIES = 4096  # descriptions kept in memory, least recently used dropped first
EXTENSION_ORIGINS = ("chrome-extension://", "moz-extension://", "safari-web-extension://")
MAX_NOTES = 8
MAX_LANG = 35  # a language tag's length (BCP 47 asks implementations for at least this)
MAX_HEAD = 32 * 1024  # request line and headers
MAX_URL = 8 * 1024
BACKLOG = 512
DESCRIBED = "described"  # the action of an answer to "ask"
INTERNAL = "internal error (see the service's log)"


class Busy(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"the service is busy: ask again in {retry_after} s")
        self.retry_after = retry_after


class Refusal(Exception):
    """A request answered with a JSON error (status, message)."""

    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass
class Pending:
    """One image of a request that the describer must see (unless the cache knows it)."""

    index: int
    source: str
    decision: str  # scan.FILL or scan.REVIEW
    reason: str
    digest: str
    data: bytes
    lang: str | None = None  # the page's language at the image, as the extension found it

    @property
    def key(self) -> str:
        """What the image is described and kept by: its digest, with the page's language (fill.key)."""
        return pipeline.key(self.digest, language(self.lang))


class Memory:
    """Descriptions by fill.key (digest and page language), in memory, at most `entries` of them. As in
    fill, only the kinds OCR reads (`reading`) are kept per language; the rest hold for every page."""

    def __init__(self, entries: int = CACHE_ENTRIES, reading: set[str] | frozenset = frozenset()):
        self.entries = entries
        self.reading = reading
        self.found: OrderedDict[str, Description] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str, source: str) -> Description | None:
        """The description for `key`: its own, or the digest's when that holds in any language."""
        with self.lock:
            found = pipeline.lookup(self.found.get, key, self.reading)
            if found is None:
                return None
            self.found.move_to_end(found[0])
        return replace(found[1], source=source)

    def put(self, found: dict[str, Description]) -> None:
        with self.lock:
            for key, description in found.items():
                if description.action != "error":  # a failed model run is not the image's fault
                    place = pipeline.place(key, description, self.reading)
                    self.found[place] = description
                    self.found.move_to_end(place)
            while len(self.found) > self.entries:
                self.found.popitem(last=False)


@dataclass(eq=False)
class Job:
    """An image waiting for the model, and how many requests still wait for it."""

    digest: str  # fill.key: the image's digest and the page's language
    source: str
    data: bytes
    lang: str  # the page's language as ocr.language gives it ('de' for 'de-AT'), what OCR is asked for
    request: int  # when the request that asked first arrived (its place in the queue)
    future: Future = field(default_factory=Future)
    waiting: int = 1


class ModelQueue:
    """The model's one worker thread (a batch uses every core, and OCR has one worker) and the images waiting
    for it, at most `limit`, first come first served. After the queue was empty the batches grow from one
    image (the first answer of a page comes after one image's time) to `batch`; a batch finishes the first
    request's images before it takes another request's, and takes those only whole (so the viewport's
    images, the page's first request, are not held back by a batch that also holds the next request's)."""

    def __init__(self, describe: pipeline.Describe, memory: Memory, batch: int, limit: int = MAX_WAITING):
        self.describe = describe
        self.memory = memory
        self.batch = max(1, batch)
        self.limit = limit
        self.waiting: OrderedDict[str, Job] = OrderedDict()
        self.running: dict[str, Job] = {}
        self.seconds_per_image = 1.0  # a running average, for Retry-After
        self.next_batch = 1
        self.arrivals = 0
        self.closed = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self.work, name="alttext-model", daemon=True)
        self.thread.start()

    def arrived(self) -> int:
        """A request's place in the queue, taken when it arrives: its body is read and its images prepared
        before they are queued, and a page's next request must not overtake the viewport's meanwhile."""
        with self.changed:
            self.arrivals += 1
            return self.arrivals

    def submit(self, wanted: dict[str, tuple[str, bytes, str]], arrival: int) -> dict[str, Job]:
        """key → its Job (shared with other requests that wait for the same pixels); Busy when full."""
        with self.changed:
            new = [d for d in wanted if d not in self.waiting and d not in self.running]
            if new and len(self.waiting) + len(new) > self.limit:
                raise Busy(max(1, math.ceil(len(self.waiting) * self.seconds_per_image)))
            jobs = {}
            for digest, (source, data, lang) in wanted.items():
                job = self.waiting.get(digest) or self.running.get(digest)
                if job is None:
                    job = self.waiting[digest] = Job(digest, source, data, lang, arrival)
                else:
                    job.waiting += 1
                jobs[digest] = job
            self.waiting = OrderedDict(sorted(self.waiting.items(), key=lambda item: item[1].request))  # stable
            self.changed.notify()
        return jobs

    def release(self, jobs) -> None:
        """The request went away or ran out of time: images nobody else waits for leave the queue."""
        with self.changed:
            for job in jobs:
                job.waiting -= 1
                if job.waiting <= 0 and self.waiting.get(job.digest) is job:
                    del self.waiting[job.digest]

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify()

    def work(self) -> None:
        while (taken := self.take()) is not None:
            started = time.monotonic()
            try:
                found = pipeline.describe_all(self.describe,
                                              {job.digest: (job.source, job.data, job.lang) for job in taken})
            except Exception as error:  # a bug: every image of the batch says so, the service goes on
                say(f"internal error describing {len(taken)} images: {type(error).__name__}: {error}")
                found = {job.digest: Description(job.source, "error", reason=INTERNAL) for job in taken}
            else:
                self.memory.put(found)
            with self.changed:
                for job in taken:
                    del self.running[job.digest]
                elapsed = (time.monotonic() - started) / len(taken)
                self.seconds_per_image = 0.8 * self.seconds_per_image + 0.2 * elapsed
            for job in taken:
                if not job.future.cancelled():  # nothing cancels a job now; if something did, the thread must go on
                    job.future.set_result(found[job.digest])

    def take(self) -> list[Job] | None:
        with self.changed:
            while not self.waiting and not self.closed:
                self.next_batch = 1
                self.changed.wait()
            if self.closed:
                return None
            taken = self.batch_of(self.next_batch)
            self.next_batch = min(self.batch, self.next_batch * 2)
            for job in taken:
                del self.waiting[job.digest]
                self.running[job.digest] = job
            return taken

    def batch_of(self, size: int) -> list[Job]:
        """The first request's waiting images (at most `size`), then other requests' whole while they fit."""
        runs: list[list[Job]] = []
        for job in self.waiting.values():
            if runs and runs[-1][0].request == job.request:
                runs[-1].append(job)
            else:
                runs.append([job])
        taken = runs[0][:size]
        for run in runs[1:]:
            if len(taken) + len(run) > size:
                break
            taken += run
        return taken


def answer(index: int, source: str, action: str, alt: str | None = None, reason: str | None = None,
           found: Description | None = None, guess: str | None = None, origin: str | None = None) -> dict:
    """One image's line in the /v1/describe response."""
    return {"index": index, "source": source, "action": action, "alt": alt, "guess": guess,
            "kind": found.kind if found else None, "confidence": found.confidence if found else None,
            "reason": reason, "origin": origin}


class Service:
    """What the HTTP routes ask: the describer's queue, the review floor, the cache and the health record."""

    def __init__(self, describe: pipeline.Describe, min_confidence: float | None, health: dict,
                 cache_entries: int = CACHE_ENTRIES, batch: int = 16, waiting: int = MAX_WAITING,
                 decisions: Decisions | None = None):
        self.min_confidence = min_confidence
        self.decisions = decisions or Decisions()
        self.health = {"service": "alttext", "version": __version__, **health,
                       "limits": {"max_body": MAX_BODY, "max_images": MAX_IMAGES, "request_pixels": MAX_REQUEST_PIXELS,
                                  "request_seconds": REQUEST_SECONDS, "max_waiting": waiting}}
        self.memory = Memory(cache_entries, pipeline.reading_kinds(describe))
        self.queue = ModelQueue(describe, self.memory, batch, waiting)

    def prepare_all(self, entries: list, ask: bool) -> list[Pending | dict]:
        """Each entry → the image to describe or its final answer; the request's pixel budget applied in order."""
        prepared, pixels = [], 0
        for n, entry in enumerate(entries):
            item = self.prepare(entry, n, ask)
            if isinstance(item, Pending):
                try:
                    pixels += decoded_pixels(item.data, item.source)
                except SourceError:
                    pass  # the describer says why, as fill would
                if pixels > MAX_REQUEST_PIXELS:
                    item = answer(n, item.source, SKIPPED, reason=f"past this request's budget of "
                                  f"{MAX_REQUEST_PIXELS // 1_000_000} megapixels: ask for it in a request of its own")
            prepared.append(item)
        return prepared

    def prepare(self, entry, n: int, ask: bool) -> Pending | dict:
        """An entry → the image to describe, or its final answer (alt="" by context alone, or an error)."""
        if not isinstance(entry, dict):
            return answer(n, f"image {n}", SKIPPED, reason="not a JSON object")
        source = entry.get("source")
        source = source if isinstance(source, str) and source else f"image {n}"
        try:
            decision, reason = (FILL, "a reader asked") if ask else decide_context(entry.get("context", {}))
        except ValueError as error:
            return answer(n, source, SKIPPED, reason=str(error))
        if decision == EMPTY:
            return answer(n, source, FILLED, "", reason)
        lang = entry.get("lang")
        if not (lang is None or isinstance(lang, str) and len(lang) <= MAX_LANG):
            return answer(n, source, SKIPPED, reason=f"lang must be a language tag of at most {MAX_LANG} characters")
        try:
            data = image_bytes(entry.get("data"), source)
        except SourceError as error:
            return answer(n, source, SKIPPED, reason=error.reason)
        digest = hashlib.sha256(data).hexdigest()
        decided = None if ask else self.decisions.answer(digest)
        if decided is not None:
            return answer(n, source, FILLED, decided.alt, decided.reason, origin=decided.origin)
        return Pending(n, source, decision, reason, digest, data, (lang or "").strip() or None)

    def jobs(self, prepared: list, arrival: int) -> tuple[dict[str, Description], dict[str, Job]]:
        """What memory knows, and the queue's jobs for the rest (Busy when the queue is full)."""
        pending = [p for p in prepared if isinstance(p, Pending)]
        known = {p.key: found for p in pending if (found := self.memory.get(p.key, p.source)) is not None}
        wanted = {p.key: (p.source, p.data, language(p.lang)) for p in pending if p.key not in known}
        return known, self.queue.submit(wanted, arrival) if wanted else {}

    async def answers(self, prepared: list, ask: bool, arrival: int):
        """Each image's answer as soon as it is ready; past REQUEST_SECONDS the rest are skipped."""
        known, jobs = self.jobs(prepared, arrival)
        pending = [p for p in prepared if isinstance(p, Pending)]
        try:
            for item in prepared:
                if not isinstance(item, Pending):
                    yield item
            for p in pending:
                if p.key in known:
                    yield self.decided(p, known[p.key], ask)
            futures = {key: asyncio.wrap_future(job.future) for key, job in jobs.items()}
            waiting = {future: [p for p in pending if p.key == key] for key, future in futures.items()}
            deadline = time.monotonic() + REQUEST_SECONDS
            while waiting:
                done, _ = await asyncio.wait(waiting, timeout=max(0.0, deadline - time.monotonic()),
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    break
                for future in done:
                    for p in waiting.pop(future):
                        yield self.decided(p, replace(future.result(), source=p.source), ask)
            for ps in waiting.values():
                for p in ps:
                    yield answer(p.index, p.source, SKIPPED, reason=f"not described within {REQUEST_SECONDS} s: "
                                                                    "the service is busy; ask again")
        finally:
            self.queue.release([job for job in jobs.values() if not job.future.done()])

    def decided(self, pending: Pending, found: Description, ask: bool) -> dict:
        if ask:
            if found.action == "error":
                return answer(pending.index, pending.source, SKIPPED, reason=found.reason, found=found)
            return answer(pending.index, pending.source, DESCRIBED, found.alt or guess_of(found), found.reason, found)
        action, alt, reason = pipeline.outcome(pending.decision, pending.reason, found, self.min_confidence,
                                               pending.lang)
        guess = guess_of(found) if alt is None else None
        return answer(pending.index, pending.source, action, alt, reason, found, guess)


def decide_context(context) -> tuple[str, str]:
    """The rules' decision for an image from the facts the extension found (scan.context_decision)."""
    if not isinstance(context, dict):
        raise ValueError("context is not a JSON object")
    element = context.get("element", "img")
    if element not in ("img", "input"):
        raise ValueError('context.element must be "img" or "input"')
    role, control, notes = context.get("role"), context.get("control"), context.get("notes", [])
    if not (role is None or isinstance(role, str)) or not (control is None or isinstance(control, str)):
        raise ValueError("context.role and context.control must be strings or null")
    if not isinstance(notes, list) or len(notes) > MAX_NOTES or not all(isinstance(n, str) for n in notes):
        raise ValueError(f"context.notes must be a list of at most {MAX_NOTES} strings")
    roles = role.strip().lower().split() if role else []
    control = control.strip().lower()[:40] if control and control.strip() else None
    notes = [note[:200] for note in notes]
    return context_decision(element, roles[0] if roles else None, control, context.get("controlHasText") is True,
                            notes)


def image_bytes(data, source: str) -> bytes:
    """The base64 `data` of an entry → bytes that are a picture alttext can read (SourceError otherwise)."""
    if not isinstance(data, str) or not data:
        raise SourceError(source, "no image data (data: base64 string)")
    if len(data) > (MAX_BYTES + 2) // 3 * 4 + 4:
        raise SourceError(source, f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SourceError(source, "image data is not valid base64") from None
    try:
        check_image(raw, source)
    except Placeholder:
        pass  # a lone tiny picture is a spacer: the describer's decoration rule gives it alt=""
    return raw


# ---------------------------------------------------------------- HTTP


class JSON(JSONResponse):
    media_type = "application/json; charset=utf-8"


def refused(status: int, error: str, headers: dict | None = None) -> JSONResponse:
    return JSON({"error": error}, status, headers)


async def health(request: Request) -> Response:
    return JSON(request.app.state.service.health)


async def describe(request: Request) -> Response:
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                                                  "Access-Control-Allow-Headers": "Content-Type",
                                                  "Access-Control-Max-Age": "600"})
    service: Service = request.app.state.service
    arrival = service.queue.arrived()
    try:
        payload = await json_body(request)
        images = payload.get("images") if isinstance(payload, dict) else None
        if not isinstance(images, list):
            raise Refusal(400, 'the body must be {"images": [...]}')
        if len(images) > MAX_IMAGES:
            raise Refusal(400, f"at most {MAX_IMAGES} images per request")
        ask = payload.get("ask") is True
        prepared = await run_in_threadpool(service.prepare_all, images, ask)
        lines = service.answers(prepared, ask, arrival)
        first = await anext(lines, None)  # Busy is raised here, before the 200 is sent
    except Refusal as refusal:
        return refused(refusal.status, refusal.error, {"Connection": "close"} if refusal.status in (411, 413) else None)
    except Busy as busy:
        return refused(503, str(busy), {"Retry-After": str(busy.retry_after)})

    async def body():
        try:
            if first is not None:
                yield ndjson(first)
                async for line in lines:
                    yield ndjson(line)
        finally:
            await lines.aclose()  # a client that went away: the images only it waited for leave the queue

    return StreamingResponse(body(), media_type="application/x-ndjson; charset=utf-8")


def ndjson(line: dict) -> bytes:
    return (json.dumps(line, ensure_ascii=False) + "\n").encode()


async def json_body(request: Request):
    """The request's JSON (Refusal when there is none or it is too large; the body is read only up to the cap)."""
    length = request.headers.get("Content-Length", "")
    if "Transfer-Encoding" in request.headers or not length.strip().isdigit():
        raise Refusal(411, "a Content-Length is required")
    if int(length) > MAX_BODY:
        raise Refusal(413, f"the body is larger than {MAX_BODY // (1024 * 1024)} MB")
    kind = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refusal(415, "the body must be application/json")
    body = await request.body()
    try:
        return await run_in_threadpool(json.loads, body)
    except (ValueError, RecursionError) as error:
        raise Refusal(400, f"the body is not JSON ({str(error)[:100]})") from None


async def http_error(request: Request, error: HTTPException) -> Response:
    if error.status_code == 404:
        return refused(404, "no such path: GET /v1/health or POST /v1/describe")
    if error.status_code == 405:
        return refused(405, f"{request.method} is not allowed here: GET /v1/health or POST /v1/describe",
                       {"Allow": error.headers.get("Allow", "") if error.headers else ""})
    return refused(error.status_code, str(error.detail))


async def internal_error(request: Request, error: Exception) -> Response:
    say(f"internal error on {request.method} {request.url.path}: {type(error).__name__}: {error}")
    return refused(500, INTERNAL)


class Guard:
    """Refuses web pages (an ordinary Origin; a Host that is not this machine: DNS rebinding) before any
    route is looked at, and adds CORS for extensions and no-store to every answer."""

    def __init__(self, app, host: str, own_origin: str | None = None):
        self.app = app
        self.host = host.lower()
        self.own_origin = own_origin  # a page this server serves itself (alttext review's) may call it

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if len(scope["raw_path"]) + len(scope["query_string"]) > MAX_URL:
            response = refused(414, "the request line is too long")
        elif sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > MAX_HEAD:
            response = refused(431, "the request's headers are too large")
        elif origin is not None and origin != self.own_origin and not origin.startswith(EXTENSION_ORIGINS):
            response = refused(403, "web pages may not use this service, only browser extensions")
        elif not self.host_allowed(headers.get("host")):
            response = refused(403, "the Host header does not name this machine")
        else:
            return await self.app(scope, receive, self.marked(send, origin))
        response.headers["Connection"] = "close"
        await response(scope, receive, self.marked(send, None))

    @staticmethod
    def marked(send, origin: str | None):
        async def sending(message):
            if message["type"] == "http.response.start":
                extra = [(b"vary", b"Origin"), (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
                if origin is not None:
                    extra.append((b"access-control-allow-origin", origin.encode("latin-1")))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return sending

    def host_allowed(self, header: str | None) -> bool:
        """A Host naming this machine by address, as localhost or as --host; none at all (HTTP/1.0) too."""
        if header is None:
            return True
        try:
            name = (urlsplit(f"//{header}").hostname or "").rstrip(".")
        except ValueError:
            return False
        if name in ("localhost", self.host) or name.endswith(".localhost"):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


class JsonErrors(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering a request it cannot parse in JSON like every other error:
    414 for a request line past MAX_HEAD that is still coming, 431 for headers past it, else 400 (Guard
    answers what came whole but is past MAX_URL or MAX_HEAD)."""

    def send_400_response(self, msg: str) -> None:
        error = sys.exc_info()[1]
        status = getattr(error, "error_status_hint", 400)
        if status == 431 and b"\r\n" not in self.conn.trailing_data[0]:
            status = 414
        text = {414: "the request line is too long", 431: "the request's headers are too large"}.get(
            status, "not an HTTP request this service can read")
        body = json.dumps({"error": text}).encode()
        response = h11.Response(status_code=status, headers=[
            (b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), (b"cache-control", b"no-store")])
        try:
            for event in (response, h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:  # the connection was too broken to answer on
            pass
        self.transport.close()


def app_for(service: Service, host: str):
    app = Starlette(routes=[Route("/v1/health", health, methods=["GET"]),
                            Route("/v1/describe", describe, methods=["POST", "OPTIONS"])],
                    exception_handlers={HTTPException: http_error, Exception: internal_error})
    app.state.service = service
    return Guard(app, host)


class Server:
    """The service on a listening socket (bound at once, so that a port in use is known before serving)."""

    def __init__(self, service: Service | None, host: str, port: int, app_of: Callable[[str], Any] | None = None):
        """`app_of`, given the server's URL once bound, makes another app (alttext review's) than the service's."""
        self.service = service
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY (no Nagle delay) only on sockets that say it
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(BACKLOG)
        except OSError:
            self.socket.close()
            raise
        app = app_of(self.url) if app_of is not None else app_for(service, host)
        config = uvicorn.Config(app, http=JsonErrors, lifespan="off", backlog=BACKLOG,
                                access_log=False, log_level="warning", server_header=False,
                                h11_max_incomplete_event_size=MAX_HEAD, timeout_graceful_shutdown=5)
        self.uvicorn = uvicorn.Server(config)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.socket.getsockname()[1]}"

    def serve(self) -> None:
        """Until stop() (or, in the main thread, Ctrl-C or SIGTERM)."""
        try:
            self.uvicorn.run(sockets=[self.socket])
        finally:
            if self.service is not None:
                self.service.queue.close()
            self.socket.close()

    def stop(self) -> None:
        self.uvicorn.should_exit = True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def health_of(describer, device_note: str) -> dict:
    bundle = describer.captioner.bundle
    return {"model": bundle.meta.get("name", "model"), "model_id": describer.model_id, "device": bundle.device,
            "device_note": device_note}


def run(server: Server, ready: str) -> None:
    """Say `ready`, then serve until Ctrl-C or SIGTERM. The handlers are set before `ready` is said (a
    signal may follow it at once) and only ask the server to stop: uvicorn, which sets its own while it
    runs, raises the signal it caught again once it has stopped, into these."""

    def stop(signum, frame):
        server.stop()

    # Both set explicitly: a shell that starts a job in the background makes it ignore SIGINT.
    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        say(ready)
        server.serve()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; keep it on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = DEFAULT_PORT,
    extension_path: Annotated[
        bool, typer.Option("--extension-path", help="Print where the browser extension is (to load it unpacked).")
    ] = False,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 16,
    min_confidence: MinConfidenceOption = None,
    kind_action: KindActionOption = None,
    ocr_timeout: OcrTimeoutOption = OCR_BUDGET_S,
    decisions: Annotated[Path | None, typer.Option(
        help="A site's decisions file (.alttext.json): a person's alt or decorative answers before the model.")] = None,
) -> None:
    """Describe images for the browser extension, on http://127.0.0.1:8765, until Ctrl-C."""
    if extension_path:
        typer.echo(str(EXTENSION_DIR))
        raise typer.Exit(0)
    check_device(device)
    try:
        decided = load(decisions, True) if decisions is not None else None
    except DecisionsError as error:
        say(str(error))
        raise typer.Exit(1) from None
    actions = kind_actions(kind_action)
    options = pipeline.Options(min_confidence=min_confidence)
    notes: list[str] = []
    describer = load_describer(model, device, batch_size, options, actions, ocr_timeout, on_device_note=notes.append)
    service = Service(describer, options.min_confidence, health_of(describer, notes[0] if notes else ""),
                      batch=batch_size, decisions=decided)
    try:
        server = Server(service, host, port)
    except OSError as error:
        service.queue.close()
        say(f"cannot listen on {host}:{port} ({error.strerror or error})")
        raise typer.Exit(1) from None
    if not is_loopback(host):
        say(f"warning: {host} may be reachable from other machines; any of them can use this service")
    run(server, f"listening on {server.url}, {notes[0] if notes else 'model loaded'}; Ctrl-C stops it")
    say("stopped")
