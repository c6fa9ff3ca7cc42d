"""`alttext serve`: the real HTTP service on 127.0.0.1 with the tiny random-weight bundle, checked against
what `fill` decides for the same images, and its refusals: web origins, foreign Hosts, bad bodies."""

import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fake_describer import FakeDescriber, ScreenshotDescriber, caption_of
from imagefiles import broken_images, encode, gradient, png_header_only
from live_service import call, running, serving
from PIL import Image
from typer.testing import CliRunner

from alttext import __version__, decisions, fill, fill_cli, serve
from alttext.cli import app
from alttext.errors import ModelError
from alttext.report import Progress
from alttext.serve import EXTENSION_DIR, MAX_BODY, Service, health_of

PNG = encode(gradient(), "PNG")
JPEG = encode(gradient((80, 60)), "JPEG")
SPACER = encode(gradient((1, 1)), "GIF")
SHOT = encode(gradient((120, 90)), "PNG")
EXTENSION_ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Counting:
    """The real describer, counting the images it is given and the calls."""

    def __init__(self, describer):
        self.describer = describer
        self.model_id = describer.model_id
        self.calls: list[int] = []

    def __call__(self, items):
        self.calls.append(len(items))
        return self.describer(items)


@pytest.fixture(scope="module")
def describer(tiny_bundle):
    """What `serve` loads: fill_cli.load_describer on the tiny bundle."""
    return fill_cli.load_describer(tiny_bundle, "cpu", 16, fill.Options(), {}, 15.0, on_device_note=lambda note: None)


def service(describer, floor: float | None = 0.0) -> tuple[Service, Counting]:
    counting = Counting(describer)
    return Service(counting, floor, health_of(describer, "running on the CPU (asked for)")), counting


@pytest.fixture
def live(describer):
    served, counting = service(describer)
    with running(served) as base:
        yield base, counting


def describe(base, *images, headers=None, ask=False):
    """The answers, in the order of the images (the service sends each as soon as it is ready)."""
    status, headers, lines = call(base, "POST", "/v1/describe", {"images": list(images), "ask": ask}, headers)
    assert status == 200 and headers["content-type"] == "application/x-ndjson; charset=utf-8", lines
    assert sorted(line["index"] for line in lines) == list(range(len(images)))
    return [{k: v for k, v in line.items() if k != "index"} for line in sorted(lines, key=lambda line: line["index"])]


def test_health_names_the_model_device_and_version(live):
    base, _ = live
    status, headers, body = call(base, "GET", "/v1/health")
    assert status == 200 and headers["content-type"] == "application/json; charset=utf-8"
    assert body["service"] == "alttext" and body["version"] == __version__
    assert body["model"] == "random-seed0" and body["device"] == "cpu"
    assert body["device_note"] == "running on the CPU (asked for)"
    assert body["limits"]["max_images"] == 256 and body["limits"]["max_waiting"] == 512
    assert "access-control-allow-origin" not in headers


# the context the extension sends for each image of PAGE, in order (what rules.js finds there)
PAGE = (
    b"<img src=a.png><a href=/x><img src=a.png></a><a href=/y>Go <img src=a.png></a>"
    b"<img src=b.jpg alt=' '><input type=image src=a.png alt=''><span role=button><img src=b.jpg></span>"
    b"<img src=spacer.gif><img src=a.png role=checkbox>"
)
CONTEXTS = [
    {},
    {"control": "a"},
    {"control": "a", "controlHasText": True},
    {"notes": ["alt was only whitespace"]},
    {"element": "input", "notes": ['alt="" on an image button']},
    {"control": "span"},
    {},
    {"role": "checkbox"},
]
FILES = {"a.png": PNG, "b.jpg": JPEG, "spacer.gif": SPACER}


@pytest.mark.parametrize("floor", [0.0, 0.5])
def test_each_image_gets_the_decision_fill_makes(describer, tmp_path, monkeypatch, floor):
    monkeypatch.setenv("ALTTEXT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "p.html").write_bytes(PAGE)
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    run = fill.fill([str(tmp_path / "p.html")], describer, fill.Options(dry_run=True, min_confidence=floor),
                    Progress(stream=open(os.devnull, "w")))
    expected = [{"action": r.action, "alt": r.alt, "kind": r.kind, "confidence": r.confidence, "reason": r.reason}
                for r in run.records]
    served, _ = service(describer, floor)
    with running(served) as base:
        sources = [s.decode() for s in re.findall(rb"src=([\w.]+)", PAGE)]
        found = describe(base, *[{"source": s, "data": b64(FILES[s]), "context": c} for s, c in zip(sources, CONTEXTS)])
    assert [{k: v for k, v in r.items() if k not in ("source", "guess", "origin")} for r in found] == expected
    assert [r["source"] for r in found] == sources
    actions = [r["action"] for r in found]
    if floor == 0.0:  # the tiny model captions a.png: filled where the rules say fill, else flagged
        assert actions == ["filled", "review", "filled", "filled", "review", "review", "filled", "review"]
        assert found[2]["alt"] == "" and (found[6]["alt"], found[6]["kind"]) == ("", "decoration")
    else:
        assert "below --min-confidence 0.5" in found[0]["reason"] and found[0]["alt"] is None
        assert found[0]["guess"] and f"{found[0]['guess']!r}" in found[0]["reason"]  # the guess, not written


def test_a_photo_gets_a_sentence_and_a_spacer_empty_alt(live):
    base, _ = live
    photo, spacer = describe(base, {"source": "https://example.org/a.png", "data": b64(PNG)},
                             {"source": "https://example.org/spacer.gif", "data": b64(SPACER)})
    assert photo["source"] == "https://example.org/a.png" and photo["action"] == "filled"
    assert photo["alt"][0].isupper() and photo["alt"].endswith(".") and 0 <= photo["confidence"] <= 1
    assert spacer["action"] == "filled" and spacer["alt"] == "" and spacer["kind"] == "decoration"


def test_bad_images_are_per_image_errors_and_the_rest_is_described(live):
    base, _ = live
    broken = broken_images()
    found = describe(
        base,
        {"source": "text.jpg", "data": b64(broken["text.jpg"])},
        {"source": "drawing.svg", "data": b64(broken["drawing.svg"])},
        {"source": "bad", "data": "not base64!"},
        {"source": "none"},
        "not an object",
        {"source": "odd", "data": b64(PNG), "context": {"element": "video"}},
        {"source": "good.png", "data": b64(PNG)},
    )
    assert [(r["action"], r["reason"]) for r in found[:6]] == [
        ("skipped", "not an image in a format alttext can read"),
        ("skipped", "SVG images are not supported"),
        ("skipped", "image data is not valid base64"),
        ("skipped", "no image data (data: base64 string)"),
        ("skipped", "not a JSON object"),
        ("skipped", 'context.element must be "img" or "input"'),
    ]
    assert found[4]["source"] == "image 4" and all(r["alt"] is None for r in found[:6])
    assert found[6]["action"] == "filled"


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        (b"{not json", {}, 400, "the body is not JSON"),
        (b'{"pictures": []}', {}, 400, 'the body must be {"images": [...]}'),
        (b"[]", {}, 400, 'the body must be {"images": [...]}'),
        (b'{"images": []}', {"Content-Type": "text/plain"}, 415, "the body must be application/json"),
        (json.dumps({"images": [{}] * 257}).encode(), {}, 400, "at most 256 images per request"),
    ],
)
def test_bad_requests_are_a_clear_400_and_the_service_keeps_running(live, body, headers, status, error):
    base, _ = live
    code, _, answer = call(base, "POST", "/v1/describe", body, headers)
    assert code == status and answer["error"].startswith(error)
    assert call(base, "GET", "/v1/health")[0] == 200


def test_a_body_over_the_cap_is_refused_unread_with_413(live):
    base, counting = live
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/v1/describe")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(MAX_BODY + 1))
    connection.endheaders()  # and no body: the answer must not wait for 32 MB
    response = connection.getresponse()
    assert response.status == 413 and json.loads(response.read())["error"] == "the body is larger than 32 MB"
    assert response.getheader("Connection") == "close"
    connection.close()
    assert counting.calls == [] and call(base, "GET", "/v1/health")[0] == 200


def test_paths_and_methods_are_json_errors(live):
    base, _ = live
    for method, path, status in (("GET", "/", 404), ("GET", "/health", 404), ("POST", "/describe", 404),
                                 ("GET", "/v1/describe", 405), ("POST", "/v1/health", 405), ("PUT", "/v1/health", 405),
                                 ("DELETE", "/v1/describe", 405)):
        code, headers, answer = call(base, method, path, {"images": []})
        assert code == status and headers["content-type"] == "application/json; charset=utf-8"
        assert "GET /v1/health or POST /v1/describe" in answer["error"]


def raw_answer(base: str, request: bytes) -> tuple[int, dict]:
    """The status and JSON body the service answers to bytes sent as they are."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        reply = http.client.HTTPResponse(connection)
        reply.begin()
        assert reply.getheader("Content-Type") == "application/json; charset=utf-8"
        return reply.status, json.loads(reply.read())


@pytest.mark.parametrize(("request_bytes", "status", "error"), [
    (b"NONSENSE\r\n\r\n", 400, "not an HTTP request this service can read"),
    (b"GET /v1/health HTTP/1.1\r\nBad Header\r\n\r\n", 400, "not an HTTP request this service can read"),
    (b"GET /" + b"x" * 40000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "the request line is too long"),
    (b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"y" * 40000 + b"\r\n\r\n", 431,
     "the request's headers are too large"),
    # still coming, past what the HTTP layer keeps
    (b"GET /" + b"x" * 40000, 414, "the request line is too long"),
    (b"GET /v1/health HTTP/1.1\r\nX-Big: " + b"y" * 40000, 431, "the request's headers are too large"),
])
def test_requests_the_http_layer_cannot_read_are_json_errors_too(live, request_bytes, status, error):
    base, _ = live
    assert raw_answer(base, request_bytes) == (status, {"error": error})
    assert call(base, "GET", "/v1/health")[0] == 200


@pytest.mark.parametrize("origin", ["https://example.org", "http://127.0.0.1:8000", "null", "file://"])
def test_web_origins_are_refused_with_403(live, origin):
    base, counting = live
    for method, path, body in (("GET", "/v1/health", None), ("POST", "/v1/describe", {"images": [{"data": b64(PNG)}]}),
                               ("OPTIONS", "/v1/describe", None)):
        status, headers, answer = call(base, method, path, body, {"Origin": origin})
        assert status == 403 and answer["error"] == "web pages may not use this service, only browser extensions"
        assert "access-control-allow-origin" not in headers
    assert counting.calls == []


def test_extension_origins_are_served_with_cors_headers(live):
    base, _ = live
    status, headers, _ = call(base, "GET", "/v1/health", headers={"Origin": EXTENSION_ORIGIN})
    assert status == 200 and headers["access-control-allow-origin"] == EXTENSION_ORIGIN
    status, headers, _ = call(base, "OPTIONS", "/v1/describe", headers={
        "Origin": "moz-extension://0d7a1c5e-1111-2222-3333-444455556666",
        "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert status == 204 and "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-origin"] == "moz-extension://0d7a1c5e-1111-2222-3333-444455556666"
    found = describe(base, {"source": "a.png", "data": b64(PNG)}, headers={"Origin": EXTENSION_ORIGIN})
    assert found[0]["action"] == "filled"


def test_a_host_that_is_not_this_machine_is_refused(live):
    """A page on attacker.example whose name is made to point at 127.0.0.1 (DNS rebinding) sends its own Host."""
    base, _ = live
    for host in ("attacker.example:8765", "attacker.example.", "127.0.0.1.attacker.example", "[::1", ""):
        assert call(base, "GET", "/v1/health", headers={"Host": host})[0] == 403, host
    for host in ("localhost:8765", "127.0.0.1", "[::1]:8765", "localhost.:8765", "LOCALHOST"):
        assert call(base, "GET", "/v1/health", headers={"Host": host})[0] == 200


def test_images_are_described_once_and_then_come_from_memory(live):
    base, counting = live
    images = [{"source": "a.png", "data": b64(PNG)}, {"source": "copy-of-a.png", "data": b64(PNG)},
              {"source": "b.jpg", "data": b64(JPEG)}, {"source": "spacer.gif", "data": b64(SPACER)}]
    first = describe(base, *images)
    assert counting.calls == [1, 2]  # a.png and its copy once; batches grow from one image
    again = describe(base, *images)
    assert counting.calls == [1, 2] and again == first
    assert [r["source"] for r in again] == ["a.png", "copy-of-a.png", "b.jpg", "spacer.gif"]
    link = describe(base, {"source": "other.png", "data": b64(PNG), "context": {"control": "a"}})
    assert counting.calls == [1, 2] and link[0]["action"] == "review" and link[0]["alt"] == first[0]["alt"]


def test_a_failing_model_or_a_bug_is_a_per_image_error_without_traceback(describer, capsys):
    def broken_model(items):
        raise ModelError("the GPU went away")

    def bug(items):
        raise RuntimeError("a bug")

    for describe_images, reason in ((broken_model, "the GPU went away"), (bug, serve.INTERNAL)):
        with running(Service(describe_images, 0.0, {})) as base:
            found = describe(base, {"source": "a.png", "data": b64(PNG)})
            assert [(r["action"], r["reason"]) for r in found] == [("skipped", reason)]
            assert call(base, "GET", "/v1/health")[0] == 200
    assert capsys.readouterr().err == "alttext: internal error describing 1 images: RuntimeError: a bug\n"


# -- the command line


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_ctrl_c_or_sigterm_and_stops_cleanly(tiny_bundle, stop):
    args = [sys.executable, "-m", "alttext", "serve", "--model", str(tiny_bundle), "--device", "cpu", "--port", "0"]
    child = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stderr.readline()
        assert line.startswith("alttext: listening on http://127.0.0.1:"), line
        assert line.rstrip().endswith(", running on the CPU (asked for); Ctrl-C stops it")
        if stop == signal.SIGINT:
            base = line.split()[3].rstrip(",")
            status, _, body = call(base, "GET", "/v1/health")
            assert status == 200 and body["model"] == "random-seed0"
        child.send_signal(stop)  # SIGTERM at once: while uvicorn is still starting
        assert child.wait(timeout=30) == 0
        rest = child.stderr.read()
        assert rest == "alttext: stopped\n"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()


def test_cli_extension_path_and_usage_errors():
    result = CliRunner().invoke(app, ["serve", "--extension-path"])
    assert result.exit_code == 0 and Path(result.stdout.strip()) == EXTENSION_DIR
    assert (EXTENSION_DIR / "manifest.json").is_file()
    assert CliRunner().invoke(app, ["serve", "--device", "tpu"]).exit_code == 2
    assert CliRunner().invoke(app, ["serve", "--port", "70000"]).exit_code == 2


def test_cli_port_in_use_is_one_clear_line(tiny_bundle):
    with running(Service(lambda items: [], 0.0, {})) as base:
        port = base.rsplit(":", 1)[1]
        result = CliRunner().invoke(app, ["serve", "--model", str(tiny_bundle), "--device", "cpu", "--port", port])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"alttext: cannot listen on 127.0.0.1:{port} (Address already in use)"


# -- answers as they come, and the bounds on what a request may cost


class Gate:
    """A describer that answers each call only when a test lets it through."""

    model_id = "gate"

    def __init__(self):
        self.entered = threading.Semaphore(0)
        self.go = threading.Semaphore(0)
        self.calls: list[list[str]] = []

    def __call__(self, items):
        self.calls.append([source for source, *_ in items])
        self.entered.release()
        assert self.go.acquire(timeout=30)
        return [FakeDescriber.describe(*item) for item in items]


def pictures(count: int) -> list[dict]:
    """`count` distinct small PNGs as request entries."""
    return [{"source": f"p{n}.png", "data": b64(encode(gradient((40 + n, 30)), "PNG"))} for n in range(count)]


def post(base: str, body: dict) -> http.client.HTTPResponse:
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/v1/describe", json.dumps(body), {"Content-Type": "application/json"})
    return connection.getresponse()


def test_each_answer_comes_as_soon_as_its_image_is_described():
    gate = Gate()
    with running(Service(gate, None, {})) as base:
        gate.go.release()  # the first batch is one image
        response = post(base, {"images": pictures(3)})
        assert response.status == 200
        first = json.loads(response.readline())
        assert (first["index"], first["action"]) == (0, "filled")
        assert gate.entered.acquire(timeout=30) and gate.entered.acquire(timeout=30)  # the second batch waits
        assert gate.calls == [["p0.png"], ["p1.png", "p2.png"]]
        gate.go.release()
        rest = [json.loads(line) for line in response.read().splitlines()]
        assert sorted(line["index"] for line in rest) == [1, 2]


def test_past_the_queue_a_request_gets_503_with_retry_after():
    gate = Gate()
    with running(Service(gate, None, {}, waiting=3)) as base, ThreadPoolExecutor(1) as pool:
        first = pool.submit(call, base, "POST", "/v1/describe", {"images": pictures(3)})
        assert gate.entered.acquire(timeout=30)  # one image with the model, two waiting, room for one more
        status, headers, answer = call(base, "POST", "/v1/describe", {"images": pictures(5)[3:]})
        assert status == 503 and int(headers["retry-after"]) >= 1
        assert answer["error"].startswith("the service is busy: ask again in ")
        for _ in range(2):
            gate.go.release()
        assert first.result()[0] == 200 and len(first.result()[2]) == 3


def test_an_image_not_described_within_the_time_budget_is_skipped_and_leaves_the_queue(monkeypatch):
    monkeypatch.setattr(serve, "REQUEST_SECONDS", 0.5)
    gate = Gate()
    served = Service(gate, None, {})
    try:
        with running(served) as base:
            found = describe(base, *pictures(2))
            assert [r["reason"] for r in found] == ["not described within 0.5 s: the service is busy; ask again"] * 2
            assert not served.queue.waiting  # p1 was waiting: nobody wants it any more
    finally:
        gate.go.release()


def test_images_past_the_request_pixel_budget_are_skipped(live, monkeypatch):
    base, counting = live
    monkeypatch.setattr(serve, "MAX_REQUEST_PIXELS", 40 * 30 + 41 * 30)
    found = describe(base, *pictures(3))
    assert [r["action"] for r in found] == ["filled", "filled", "skipped"]
    assert found[2]["reason"] == "past this request's budget of 0 megapixels: ask for it in a request of its own"


def one_bit_pngs(count: int) -> list[bytes]:
    """`count` distinct 88-megapixel black PNGs of one bit per pixel (11 KB each), told apart by a tEXt chunk."""
    whole = encode(Image.new("1", (11000, 8000)), "PNG")

    def text(n: int) -> bytes:
        data = b"n\0" + str(n).encode()
        return struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))

    return [whole[:33] + text(n) + whole[33:] for n in range(count)]


@pytest.mark.filterwarnings("ignore:Image size:PIL.Image.DecompressionBombWarning")
def test_huge_pictures_are_refused_by_their_size_not_a_500(live):
    base, _ = live
    found = describe(base, *[{"source": f"big{n}.png", "data": b64(data)} for n, data in enumerate(one_bit_pngs(16))])
    assert {(r["action"], r["reason"]) for r in found} == {
        ("skipped", "image has 88 megapixels; alttext decodes at most 40 unless it is a JPEG")}
    describe(base, *pictures(4))
    bomb = describe(base, {"source": "bomb.png", "data": b64(png_header_only(12000, 12000))}, *pictures(5)[4:])
    assert [r["action"] for r in bomb] == ["skipped", "filled"]
    assert bomb[0]["reason"] == "image has too many pixels (decompression bomb limit)"


def test_asked_for_the_model_describes_any_image_with_its_best_guess(describer):
    with running(Service(describer, 1.0, {})) as base:  # every caption is under the threshold
        normal, = describe(base, {"source": "a.png", "data": b64(PNG)})
        asked, = describe(base, {"source": "a.png", "data": b64(PNG), "context": {"role": "checkbox"}}, ask=True)
    assert normal["action"] == "review" and normal["alt"] is None and normal["guess"]
    assert asked["action"] == "described" and asked["alt"] == normal["guess"] and asked["guess"] is None


def test_32_clients_at_once_are_all_answered():
    with running(Service(FakeDescriber(), None, {})) as base, ThreadPoolExecutor(32) as pool:
        images = pictures(32)
        found = list(pool.map(lambda image: call(base, "POST", "/v1/describe", {"images": [image]}), images))
        health = list(pool.map(lambda _: call(base, "GET", "/v1/health")[0], range(64)))
    assert [(status, lines[0]["source"], lines[0]["action"]) for status, _, lines in found] == [
        (200, image["source"], "filled") for image in images]
    assert health == [200] * 64


def test_answers_are_not_held_back_for_nagle():
    """Without TCP_NODELAY every kept-alive request waited about 45 ms for the client's delayed ACK."""
    with serving(Service(FakeDescriber(), None, {})) as server:
        port = int(server.url.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/v1/health")
        connection.getresponse().read()
        transports = [c.transport for c in server.uvicorn.server_state.connections]
        options = [t.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for t in transports]
        connection.close()
    assert options and all(options)


def test_a_batch_finishes_the_first_request_before_it_takes_part_of_the_next():
    gate = Gate()
    served = Service(gate, None, {})
    images = pictures(8)
    with running(served) as base, ThreadPoolExecutor(2) as pool:
        first = pool.submit(call, base, "POST", "/v1/describe", {"images": images[:4]})
        assert gate.entered.acquire(timeout=30)  # p0 is with the model
        second = pool.submit(call, base, "POST", "/v1/describe", {"images": images[4:]})
        until(lambda: len(served.queue.waiting) == 7)
        for _ in range(4):
            gate.go.release()
        assert first.result()[0] == second.result()[0] == 200
    assert gate.calls == [["p0.png"], ["p1.png", "p2.png"], ["p3.png"], ["p4.png", "p5.png", "p6.png", "p7.png"]]


def until(check) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_request_keeps_its_place_in_the_queue_from_when_it_arrived_not_when_its_body_was_read():
    gate = Gate()
    served = Service(gate, None, {})
    images = pictures(5)
    body = json.dumps({"images": images[1:3]}).encode()
    head = b"POST /v1/describe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    with running(served) as base, ThreadPoolExecutor(2) as pool:
        blocker = pool.submit(call, base, "POST", "/v1/describe", {"images": images[:1]})
        assert gate.entered.acquire(timeout=30)  # p0 is with the model
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=30) as slow:
            slow.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
            until(lambda: served.queue.arrivals == 2)  # p1 and p2's request arrived; its body is still coming
            later = pool.submit(call, base, "POST", "/v1/describe", {"images": images[3:]})
            until(lambda: len(served.queue.waiting) == 2)
            slow.sendall(body[10:])
            until(lambda: len(served.queue.waiting) == 4)
            for _ in range(3):
                gate.go.release()
            response = http.client.HTTPResponse(slow)
            response.begin()
            assert response.status == 200 and len(response.read().splitlines()) == 2
        assert blocker.result()[0] == later.result()[0] == 200
    assert gate.calls == [["p0.png"], ["p1.png", "p2.png"], ["p3.png", "p4.png"]]


def test_a_persons_decision_answers_before_the_model(describer, tmp_path):
    decisions_file = tmp_path / ".alttext.json"
    decisions_file.write_text(decisions.dumps({
        hashlib.sha256(PNG).hexdigest(): {"alt": "The team at the meetup."},
        hashlib.sha256(JPEG).hexdigest(): {"decorative": True}}), encoding="utf-8")
    counting = Counting(describer)
    served = Service(counting, 0.0, {}, decisions=decisions.load(decisions_file, True))
    with running(served) as base:
        team, rule, other = describe(base, {"source": "team.png", "data": b64(PNG)},
                                     {"source": "rule.jpg", "data": b64(JPEG)},
                                     {"source": "s.gif", "data": b64(SPACER)})
    assert (team["action"], team["alt"], team["origin"]) == ("filled", "The team at the meetup.", "decision")
    assert (rule["action"], rule["alt"], rule["origin"]) == ("filled", "", "decision")
    assert str(decisions_file) in team["reason"]
    assert other["origin"] is None and counting.calls == [1]  # only the picture nobody decided


def test_cli_a_broken_decisions_file_is_one_line_and_exit_1(tmp_path):
    broken = tmp_path / "d.json"
    broken.write_text('{"images": {"abc": {"alt": "x"}}}', encoding="utf-8")
    result = CliRunner().invoke(app, ["serve", "--decisions", str(broken), "--port", "0"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    expected = f"alttext: {broken}: images['abc']: the key is not a lower-case SHA-256 in hex"
    assert result.output.strip().splitlines() == [expected]


def test_the_page_language_is_used_as_fill_uses_it(fake_ocr):
    """A screenshot is read and worded in each image's page language, described once per language; a photo's
    English caption is not written on a German page, and the photo is described once for all pages."""
    describer = ScreenshotDescriber(SHOT)
    try:
        with running(Service(describer, 0.0, {})) as base:
            found = describe(base, *[{"source": f"{n}.png", "data": b64(data), "lang": lang}
                                     for n, (data, lang) in enumerate([(SHOT, "de-AT"), (SHOT, "ko"), (SHOT, None),
                                                                       (PNG, "de"), (PNG, 5)])])
            again = describe(base, {"source": "again.png", "data": b64(SHOT), "lang": "de"},
                             {"source": "en.png", "data": b64(PNG), "lang": "en-GB"})
    finally:
        describer.reader.close()
    assert [(r["action"], r["alt"]) for r in found] == [
        ("review", "Bildschirmfoto: lang de."), ("review", None), ("review", "Screenshot of lang en."),
        ("review", None), ("skipped", None)]
    assert "'ko'" in found[1]["reason"] and "the page is in 'de'" in found[3]["reason"]
    assert found[4]["reason"] == "lang must be a language tag of at most 35 characters"
    # from memory: de-AT's reading serves de, the German page's photo serves the English page
    assert [(r["action"], r["alt"]) for r in again] == [("review", "Bildschirmfoto: lang de."),
                                                         ("filled", caption_of(PNG))]
    assert sorted(zip(sum(describer.calls, []), sum(describer.languages, []))) == [
        ("0.png", "de"), ("1.png", "ko"), ("2.png", "en"), ("3.png", "de")]
