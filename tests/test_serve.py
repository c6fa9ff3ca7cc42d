"""`alttext serve`: the real HTTP service on 127.0.0.1 with the tiny random-weight bundle, checked against
what `fill` decides for the same images, and its refusals: web origins, foreign Hosts, bad bodies."""

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from imagefiles import broken_images, encode, gradient
from live_service import call, running
from typer.testing import CliRunner

from alttext import __version__, fill, fill_cli
from alttext.cli import app
from alttext.errors import ModelError
from alttext.report import Progress
from alttext.serve import EXTENSION_DIR, MAX_BODY, Service, health_of

PNG = encode(gradient(), "PNG")
JPEG = encode(gradient((80, 60)), "JPEG")
SPACER = encode(gradient((1, 1)), "GIF")
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


def describe(base, *images, headers=None):
    status, _, body = call(base, "POST", "/describe", {"images": list(images)}, headers)
    assert status == 200, body
    return body["images"]


def test_health_names_the_model_device_and_version(live):
    base, _ = live
    status, headers, body = call(base, "GET", "/health")
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    assert body["service"] == "alttext" and body["version"] == __version__
    assert body["model"] == "random-seed0" and body["device"] == "cpu"
    assert body["device_note"] == "running on the CPU (asked for)"
    assert "Access-Control-Allow-Origin" not in headers


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
    assert [{k: v for k, v in r.items() if k != "source"} for r in found] == expected
    assert [r["source"] for r in found] == sources
    actions = [r["action"] for r in found]
    if floor == 0.0:  # the tiny model captions a.png: filled where the rules say fill, else flagged
        assert actions == ["filled", "review", "filled", "filled", "review", "review", "filled", "review"]
        assert found[2]["alt"] == "" and (found[6]["alt"], found[6]["kind"]) == ("", "decoration")
    else:
        assert "below --min-confidence 0.5" in found[0]["reason"] and found[0]["alt"] is None


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
    code, _, answer = call(base, "POST", "/describe", body, headers)
    assert code == status and answer["error"].startswith(error)
    assert call(base, "GET", "/health")[0] == 200


def test_a_body_over_the_cap_is_refused_unread_with_413(live):
    base, counting = live
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/describe")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(MAX_BODY + 1))
    connection.endheaders()  # and no body: the answer must not wait for 32 MB
    response = connection.getresponse()
    assert response.status == 413 and json.loads(response.read())["error"] == "the body is larger than 32 MB"
    assert response.getheader("Connection") == "close"
    connection.close()
    assert counting.calls == [] and call(base, "GET", "/health")[0] == 200


def test_paths_and_methods(live):
    base, _ = live
    assert call(base, "GET", "/")[0] == 404
    assert call(base, "GET", "/describe")[0] == 405
    assert call(base, "POST", "/health", {"images": []})[0] == 404


@pytest.mark.parametrize("origin", ["https://example.org", "http://127.0.0.1:8000", "null", "file://"])
def test_web_origins_are_refused_with_403(live, origin):
    base, counting = live
    for method, path, body in (("GET", "/health", None), ("POST", "/describe", {"images": [{"data": b64(PNG)}]}),
                               ("OPTIONS", "/describe", None)):
        status, headers, answer = call(base, method, path, body, {"Origin": origin})
        assert status == 403 and answer["error"] == "web pages may not use this service, only browser extensions"
        assert "Access-Control-Allow-Origin" not in headers
    assert counting.calls == []


def test_extension_origins_are_served_with_cors_headers(live):
    base, _ = live
    status, headers, _ = call(base, "GET", "/health", headers={"Origin": EXTENSION_ORIGIN})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == EXTENSION_ORIGIN
    status, headers, _ = call(base, "OPTIONS", "/describe", headers={
        "Origin": "moz-extension://0d7a1c5e-1111-2222-3333-444455556666",
        "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert status == 204 and "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Origin"] == "moz-extension://0d7a1c5e-1111-2222-3333-444455556666"
    found = describe(base, {"source": "a.png", "data": b64(PNG)}, headers={"Origin": EXTENSION_ORIGIN})
    assert found[0]["action"] == "filled"


def test_a_host_that_is_not_this_machine_is_refused(live):
    """A page on attacker.example whose name is made to point at 127.0.0.1 (DNS rebinding) sends its own Host."""
    base, _ = live
    assert call(base, "GET", "/health", headers={"Host": "attacker.example:8765"})[0] == 403
    for host in ("localhost:8765", "127.0.0.1", "[::1]:8765"):
        assert call(base, "GET", "/health", headers={"Host": host})[0] == 200


def test_images_are_described_once_in_one_batch_and_then_come_from_memory(live):
    base, counting = live
    images = [{"source": "a.png", "data": b64(PNG)}, {"source": "copy-of-a.png", "data": b64(PNG)},
              {"source": "b.jpg", "data": b64(JPEG)}, {"source": "spacer.gif", "data": b64(SPACER)}]
    first = describe(base, *images)
    assert counting.calls == [3]  # one model call, a.png and its copy once
    again = describe(base, *images)
    assert counting.calls == [3] and again == first
    assert [r["source"] for r in again] == ["a.png", "copy-of-a.png", "b.jpg", "spacer.gif"]
    link = describe(base, {"source": "other.png", "data": b64(PNG), "context": {"control": "a"}})
    assert counting.calls == [3] and link[0]["action"] == "review" and link[0]["alt"] == first[0]["alt"]


def test_a_failing_model_is_a_per_image_error_and_a_bug_a_500_without_traceback(describer):
    def broken_model(items):
        raise ModelError("the GPU went away")

    def bug(items):
        raise RuntimeError("a bug")

    for describe_images, status in ((broken_model, 200), (bug, 500)):
        with running(Service(describe_images, 0.0, {})) as base:
            code, _, answer = call(base, "POST", "/describe", {"images": [{"source": "a.png", "data": b64(PNG)}]})
            assert code == status
            assert "Traceback" not in json.dumps(answer)
            if status == 200:
                assert answer["images"][0]["action"] == "skipped"
                assert answer["images"][0]["reason"] == "the GPU went away"
            else:
                assert answer == {"error": "internal error (see the service's log)"}
            assert call(base, "GET", "/health")[0] == 200


# -- the command line


def test_cli_serves_until_ctrl_c_and_stops_cleanly(tiny_bundle):
    args = [sys.executable, "-m", "alttext", "serve", "--model", str(tiny_bundle), "--device", "cpu", "--port", "0"]
    child = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stderr.readline()
        assert line.startswith("alttext: listening on http://127.0.0.1:"), line
        assert line.rstrip().endswith(", running on the CPU (asked for); Ctrl-C stops it")
        base = line.split()[3].rstrip(",")
        status, _, body = call(base, "GET", "/health")
        assert status == 200 and body["model"] == "random-seed0"
        child.send_signal(signal.SIGINT)
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
