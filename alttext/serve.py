"""`alttext serve`: a local HTTP service that the browser extension (alttext/extension) asks for alt text.

It describes only the image bytes it is sent and never fetches a URL (a web page could otherwise use
it to reach the intranet). It answers requests that carry no Origin (curl, scripts) or a browser
extension's, and refuses ordinary web origins, so a page cannot use it either directly or through DNS
rebinding (the Host must be this machine). Each image gets the decision `fill` makes: the rules'
verdict from where the image sits (scan.context_decision, from the facts the extension found in the
page), the describer, then fill.outcome. Descriptions are kept in memory by the image's SHA-256.

    GET  /health    {"service", "version", "model", "device", "device_note", "min_confidence", ...}
    POST /describe  {"images": [{"source": URL, "data": BASE64, "context": {...}}, ...]}
                 -> {"images": [{"source", "action", "alt", "kind", "confidence", "reason"}, ...]}

`context`: "element" ("img" or "input"), "role" (the image's own role), "control" (the tag name of
the link or button it sits in, or null), "controlHasText" (that link or button already has words),
"notes" (what the rules noted, e.g. "alt was only whitespace"). `action` is fill's: "filled",
"review" (alt is written only when it is not null) or "skipped"; `alt` is what fill would write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import signal
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from alttext import __version__
from alttext import fill as pipeline
from alttext.describe import Description
from alttext.errors import SourceError
from alttext.fetch import MAX_BYTES
from alttext.fill_cli import load_describer
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
from alttext.scan import EMPTY, context_decision

EXTENSION_DIR = Path(__file__).resolve().parent / "extension"
DEFAULT_PORT = 8765
MAX_BODY = 32 * 1024 * 1024  # one image of fetch.MAX_BYTES (20 MB) fits, base64-encoded
MAX_IMAGES = 256  # per request
CACHE_ENTRIES = 4096  # descriptions kept in memory, least recently used dropped first
EXTENSION_ORIGINS = ("chrome-extension://", "moz-extension://", "safari-web-extension://")
MAX_NOTES = 8


@dataclass
class Pending:
    """One image of a request that the describer must see (unless the cache knows it)."""

    source: str
    decision: str  # scan.FILL or scan.REVIEW
    reason: str
    digest: str
    data: bytes


class Memory:
    """Descriptions by image digest, in memory, at most `entries` of them (cache.Cache's interface)."""

    def __init__(self, entries: int = CACHE_ENTRIES):
        self.entries = entries
        self.found: OrderedDict[str, Description] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, digest: str, source: str) -> Description | None:
        with self.lock:
            found = self.found.get(digest)
            if found is None:
                return None
            self.found.move_to_end(digest)
        return replace(found, source=source)

    def put(self, found: dict[str, Description]) -> None:
        with self.lock:
            for digest, description in found.items():
                if description.action != "error":  # a failed model run is not the image's fault
                    self.found[digest] = description
                    self.found.move_to_end(digest)
            while len(self.found) > self.entries:
                self.found.popitem(last=False)


def answer(source: str, action: str, alt: str | None = None, reason: str | None = None,
           found: Description | None = None) -> dict:
    """One image's entry in the /describe response."""
    return {"source": source, "action": action, "alt": alt, "kind": found.kind if found else None,
            "confidence": found.confidence if found else None, "reason": reason}


class Service:
    """What the HTTP handler asks: the describer, the review floor, the cache and the health record."""

    def __init__(self, describe: pipeline.Describe, min_confidence: float | None, health: dict,
                 cache_entries: int = CACHE_ENTRIES):
        self.describe_images = describe
        self.min_confidence = min_confidence
        self.health = {"service": "alttext", "version": __version__, **health}
        self.memory = Memory(cache_entries)
        self.model_lock = threading.Lock()  # one batch at a time: it uses every core, and OCR has one worker

    def describe(self, entries: list) -> list[dict]:
        """The /describe answer for each entry, in order; every image of the request in one model call."""
        prepared = [self.prepare(entry, n) for n, entry in enumerate(entries)]
        pending = [p for p in prepared if isinstance(p, Pending)]
        found = self.found({p.digest: (p.source, p.data) for p in pending})
        return [self.decided(p, found[p.digest]) if isinstance(p, Pending) else p for p in prepared]

    def prepare(self, entry, n: int) -> Pending | dict:
        """An entry → the image to describe, or its final answer (alt="" by context alone, or an error)."""
        if not isinstance(entry, dict):
            return answer(f"image {n}", SKIPPED, reason="not a JSON object")
        source = entry.get("source")
        source = source if isinstance(source, str) and source else f"image {n}"
        try:
            decision, reason = decide_context(entry.get("context", {}))
        except ValueError as error:
            return answer(source, SKIPPED, reason=str(error))
        if decision == EMPTY:
            return answer(source, FILLED, "", reason)
        try:
            data = image_bytes(entry.get("data"), source)
        except SourceError as error:
            return answer(source, SKIPPED, reason=error.reason)
        return Pending(source, decision, reason, hashlib.sha256(data).hexdigest(), data)

    def found(self, wanted: dict[str, tuple[str, bytes]]) -> dict[str, Description]:
        """digest → Description: from memory, else described (all in one call) and remembered."""
        found = self.remembered(wanted)
        if len(found) < len(wanted):
            with self.model_lock:
                found.update(self.remembered(wanted))  # another request may have described some meanwhile
                missing = {digest: item for digest, item in wanted.items() if digest not in found}
                new = pipeline.describe_all(self.describe_images, missing) if missing else {}
            self.memory.put(new)
            found.update(new)
        return found

    def remembered(self, wanted: dict[str, tuple[str, bytes]]) -> dict[str, Description]:
        return {digest: cached for digest, (source, _) in wanted.items()
                if (cached := self.memory.get(digest, source)) is not None}

    def decided(self, pending: Pending, found: Description) -> dict:
        action, alt, reason = pipeline.outcome(pending.decision, pending.reason, found, self.min_confidence)
        return answer(pending.source, action, alt, reason, found)


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


class Handler(BaseHTTPRequestHandler):
    """GET /health, POST /describe, OPTIONS (CORS preflight) for browser extensions only."""

    server: Server
    server_version = f"alttext/{__version__}"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds a client may take to send its request

    def do_GET(self):
        if not self.admitted():
            return
        path = urlsplit(self.path).path
        if path == "/health":
            self.reply(200, self.server.service.health)
        elif path == "/describe":
            self.reply(405, {"error": "POST /describe"})
        else:
            self.reply(404, {"error": "no such path: GET /health or POST /describe"})

    def do_POST(self):
        if not self.admitted():
            return
        if urlsplit(self.path).path != "/describe":
            self.reply(404, {"error": "POST /describe only"}, close=True)
            return
        payload = self.json_body()
        if payload is None:
            return
        images = payload.get("images") if isinstance(payload, dict) else None
        if not isinstance(images, list):
            self.reply(400, {"error": 'the body must be {"images": [...]}'})
        elif len(images) > MAX_IMAGES:
            self.reply(400, {"error": f"at most {MAX_IMAGES} images per request"})
        else:
            self.reply(200, {"images": self.server.service.describe(images)})

    def do_OPTIONS(self):
        if not self.admitted():
            return
        self.send_response(204)
        self.cors()
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def admitted(self) -> bool:
        """Refuse web pages: an ordinary Origin, or a Host that is not this machine (DNS rebinding)."""
        origin = self.headers.get("Origin")
        if origin is not None and not origin.startswith(EXTENSION_ORIGINS):
            self.reply(403, {"error": "web pages may not use this service, only browser extensions"}, close=True)
            return False
        if not self.server.host_allowed(self.headers.get("Host")):
            self.reply(403, {"error": "the Host header does not name this machine"}, close=True)
            return False
        return True

    def json_body(self):
        """The request's JSON, or None after answering why there is none."""
        length = self.headers.get("Content-Length", "")
        if "Transfer-Encoding" in self.headers or not length.strip().isdigit():
            self.reply(411, {"error": "a Content-Length is required"}, close=True)
            return None
        if int(length) > MAX_BODY:
            self.reply(413, {"error": f"the body is larger than {MAX_BODY // (1024 * 1024)} MB"}, close=True)
            return None
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            self.reply(415, {"error": "the body must be application/json"}, close=True)
            return None
        body = self.rfile.read(int(length))
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as error:
            self.reply(400, {"error": f"the body is not JSON ({str(error)[:100]})"})
            return None

    def reply(self, status: int, payload: dict, close: bool = False) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.cors()
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if close:  # the body, if any, was not read: the connection cannot carry another request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def cors(self) -> None:
        """Let an extension's page or worker read the answer (admitted() refused every other Origin)."""
        origin = self.headers.get("Origin")
        if origin is not None and origin.startswith(EXTENSION_ORIGINS):
            self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Vary", "Origin")

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as error:  # a bug must not stop the service, nor show a traceback to a client
            say(f"internal error on {self.command} {self.path}: {type(error).__name__}: {error}")
            self.close_connection = True
            try:
                self.reply(500, {"error": "internal error (see the service's log)"}, close=True)
            except OSError:
                pass

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: Service, host: str, port: int):
        self.service = service
        self.host = host
        if ":" in host:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.server_address[1]}"

    def host_allowed(self, header: str | None) -> bool:
        """A Host naming this machine by address, as localhost or as --host; none at all (HTTP/1.0) too."""
        if header is None:
            return True
        name = urlsplit(f"//{header}").hostname or ""
        if name in ("localhost", self.host.lower()) or name.endswith(".localhost"):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


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
            "device_note": device_note, "max_body": MAX_BODY, "max_images": MAX_IMAGES}


def run(server: Server) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the socket."""

    def stop(signum, frame):
        raise KeyboardInterrupt

    # Both set explicitly: a shell that starts a job in the background makes it ignore SIGINT.
    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        server.server_close()


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
) -> None:
    """Describe images for the browser extension, on http://127.0.0.1:8765, until Ctrl-C."""
    if extension_path:
        typer.echo(str(EXTENSION_DIR))
        raise typer.Exit(0)
    check_device(device)
    actions = kind_actions(kind_action)
    options = pipeline.Options(min_confidence=min_confidence)
    notes: list[str] = []
    describer = load_describer(model, device, batch_size, options, actions, ocr_timeout, on_device_note=notes.append)
    service = Service(describer, options.min_confidence, health_of(describer, notes[0] if notes else ""))
    try:
        server = Server(service, host, port)
    except OSError as error:
        say(f"cannot listen on {host}:{port} ({error.strerror or error})")
        raise typer.Exit(1) from None
    if not is_loopback(host):
        say(f"warning: {host} may be reachable from other machines; any of them can use this service")
    say(f"listening on {server.url}, {notes[0] if notes else 'model loaded'}; Ctrl-C stops it")
    run(server)
    say("stopped")
