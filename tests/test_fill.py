"""fill and check end to end: real files, a real http.server, the CLI, a run killed midway."""

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from fake_describer import FakeDescriber, ScreenshotDescriber, caption_of, confidence_of
from httpserver import serve
from imagefiles import broken_images, encode, gradient
from typer.testing import CliRunner

import alttext.describe
from alttext import atomic, cache, fill, fill_cli
from alttext.report import Progress

TESTS = Path(__file__).resolve().parent
PNG = encode(gradient(), "PNG")
JPEG = encode(gradient((80, 60)), "JPEG")
DOT = encode(gradient((1, 1)), "PNG")


def gen(data: bytes, state: str = "") -> bytes:
    return f' alt="{caption_of(data)}" data-alt-generated="alttext{state}"'.encode()


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ALTTEXT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def site(tmp_path) -> Path:
    root = tmp_path / "site"
    (root / "img").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "img" / "a.png").write_bytes(PNG)
    (root / "img" / "b.jpg").write_bytes(JPEG)
    (root / "img" / "copy-of-a.png").write_bytes(PNG)
    (root / "img" / "rule.png").write_bytes(DOT)
    (root / "index.html").write_bytes(
        b"<!DOCTYPE html>\r\n<html><body>\r\n<IMG SRC='img/a.png'>\r\n"
        b"<img src=/img/rule.png alt=''>\r\n<a href=docs/><img src=img/copy-of-a.png></a>\r\n"
        b"</body></html>\r\n"
    )
    (root / "docs" / "index.htm").write_bytes(
        b"<meta charset=windows-1252><p>caf\xe9</p><img src=../img/b.jpg><img src=/img/a.png/>"
    )
    (root / "docs" / "notes.txt").write_bytes(b"<img src=a.png>")
    return root


def run(targets, describer=None, **options) -> fill.Run:
    progress = Progress(stream=open(os.devnull, "w"))
    return fill.fill([str(t) for t in targets], describer or FakeDescriber(), fill.Options(**options), progress)


def test_directory_is_filled_in_place_byte_exact_and_mode_kept(site):
    (site / "index.html").chmod(0o640)
    describer = FakeDescriber()
    result = run([site], describer)
    assert (site / "index.html").read_bytes() == (
        b"<!DOCTYPE html>\r\n<html><body>\r\n<IMG SRC='img/a.png'" + gen(PNG) + b">\r\n"
        b"<img src=/img/rule.png alt=''>\r\n<a href=docs/><img src=img/copy-of-a.png"
        + gen(PNG, " review")
        + b"></a>\r\n</body></html>\r\n"
    )
    assert (site / "docs" / "index.htm").read_bytes() == (
        b"<meta charset=windows-1252><p>caf\xe9</p><img src=../img/b.jpg" + gen(JPEG) + b">"
        b"<img src=/img/a.png/" + gen(PNG) + b">"
    )
    assert (site / "index.html").stat().st_mode & 0o777 == 0o640
    assert (site / "docs" / "notes.txt").read_bytes() == b"<img src=a.png>"
    assert [r.action for r in result.records] == ["filled", "kept", "review", "filled", "filled"]
    assert result.pages == 2 and not result.failures
    # one call for both pages, and each distinct picture once (a.png and its copy are one)
    assert len(describer.calls) == 1 and describer.images_described == 2


def test_fill_twice_is_fill_once_and_the_cache_spares_the_model(site):
    run([site])
    once = {p: p.read_bytes() for p in site.rglob("*.htm*")}
    again = FakeDescriber()
    run([site], again)
    assert {p: p.read_bytes() for p in site.rglob("*.htm*")} == once
    assert again.calls == []


def test_cache_serves_a_rerun_without_inference(site, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(site, copy)
    run([site])
    second = FakeDescriber()
    run([copy], second)
    assert second.calls == []
    assert (copy / "index.html").read_bytes() == (site / "index.html").read_bytes()


def test_out_mirrors_the_tree_and_leaves_inputs_alone(site, tmp_path):
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    run([site], out=tmp_path / "out")
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.htm*")) == [
        "docs/index.htm",
        "index.html",
    ]
    assert gen(PNG) in (tmp_path / "out" / "index.html").read_bytes()


def test_dry_run_writes_nothing_and_diff_prints(site, tmp_path):
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    run([site], dry_run=True)
    diff_path = tmp_path / "diff"
    with diff_path.open("wb") as stdout:
        fill.fill(
            [str(site / "index.html")],
            FakeDescriber(),
            fill.Options(diff=True),
            Progress(stream=open(os.devnull, "w")),
            stdout,
        )
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    diff = diff_path.read_bytes()
    assert diff.startswith(f"--- a/{site / 'index.html'}\n+++ b/{site / 'index.html'}\n".encode())
    assert b"-<IMG SRC='img/a.png'>\r\n+<IMG SRC='img/a.png'" + gen(PNG) + b">\r\n" in diff


def test_min_confidence_writes_nothing_below_it_and_says_so(site):
    floor = (confidence_of(PNG) + confidence_of(JPEG)) / 2
    low = min((PNG, JPEG), key=confidence_of)
    result = run([site], min_confidence=floor)
    below = [r for r in result.records if r.source.endswith(".png" if low is PNG else ".jpg")]
    assert below and all(
        r.action == "review" and r.alt is None for r in below if r.reason != 'alt="" marks it decorative'
    )
    assert any("below --min-confidence" in (r.reason or "") for r in below)


def test_overwrite_and_fill_titled_are_opt_in(tmp_path):
    page = tmp_path / "p.html"
    original = b'<img src=a.png alt="Person wrote this"><img src=a.png title="Tip">'
    page.write_bytes(original)
    (tmp_path / "a.png").write_bytes(PNG)
    run([page])
    assert page.read_bytes() == original
    run([page], overwrite=True, fill_titled=True)
    assert page.read_bytes() == (
        b'<img src=a.png alt="' + caption_of(PNG).encode() + b'" data-alt-generated="alttext">'
        b'<img src=a.png title="Tip"' + gen(PNG) + b">"
    )


def test_unreadable_images_get_no_alt_and_a_reason(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    outside = tmp_path / "secret.png"
    outside.write_bytes(PNG)
    (root / "link.png").symlink_to(outside)
    for name, data in broken_images().items():
        (root / name).write_bytes(data)
    (root / "dot.png").write_bytes(DOT)
    (root / "real.png").write_bytes(PNG)
    page = (
        b"<img src=link.png><img src=%2e%2e/secret.png><img src=drawing.svg><img src=text.jpg>"
        b"<img src=missing.png><img src=dot.png><img src=dot.png data-src=real.png>"
        b"<img src=javascript:x><img srcset=''>"
    )
    (root / "p.html").write_bytes(page)
    result = run([root])
    reasons = [(r.action, r.reason) for r in result.records]
    assert reasons[:5] == [
        ("skipped", "points outside the site root (through a link)"),
        ("skipped", "points outside the site root"),
        ("skipped", "SVG images are not supported"),
        ("skipped", "not an image in a format alttext can read"),
        ("skipped", "no such file"),
    ]
    # a 1x1 picture with nothing behind it is a spacer: the describer decides (the real one writes alt="");
    # beside a lazy-load source it is only a placeholder, and the real picture is described
    assert reasons[5][0] == reasons[6][0] == "filled"
    assert [a for a, _ in reasons[7:]] == ["skipped", "skipped"]
    patched = page.replace(b"<img src=dot.png>", b"<img src=dot.png" + gen(DOT) + b">")
    assert (root / "p.html").read_bytes() == patched.replace(b"data-src=real.png", b"data-src=real.png" + gen(PNG))


def test_data_url_images_and_base_href(tmp_path):
    import base64

    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.png").write_bytes(PNG)
    data_url = b"data:image/png;base64," + base64.b64encode(JPEG)
    page = b"<base href=/media/><img src=a.png><img src='" + data_url + b"'>"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "p.html").write_bytes(page)
    run([tmp_path])
    assert (tmp_path / "sub" / "p.html").read_bytes() == (
        b"<base href=/media/><img src=a.png" + gen(PNG) + b"><img src='" + data_url + b"'" + gen(JPEG) + b">"
    )


def test_reports(site, tmp_path):
    result = run([site], thumbnails=True)
    from alttext.report import summary, write_json
    from alttext.review_page import write_review

    write_json(tmp_path / "r.json", result.records)
    records = json.loads((tmp_path / "r.json").read_text())
    assert records[0] == {
        "page": str(site / "index.html"),
        "line": 3,
        "source": "img/a.png",
        "action": "filled",
        "alt": caption_of(PNG),
        "confidence": confidence_of(PNG),
        "reason": "missing alt",
        "kind": "photo",
        "origin": "model",
        "suggestions": None,
        "picture": hashlib.sha256(PNG).hexdigest(),
    }
    result.records[0].alt = '<script>alert("x")</script>'
    write_review(tmp_path / "review.html", result.records)
    review = (tmp_path / "review.html").read_text()
    assert "<script>alert" not in review and "&lt;script&gt;alert" in review
    assert review.count('src="data:image/jpeg;base64,') == 2  # a.png (also copy-of-a.png) and b.jpg, once each
    text = summary(result.records, result.pages, 0)
    assert "pages scanned: 2" in text and "filled: 3" in text and "flagged for review: 1" in text


# -- live sites


def routes(extra=None):
    page = (
        b"<html><body><img src=img/a.png><img src=/missing.png><img src=wrong.png>"
        b"<a href=/about/>About</a><a href=/private.html>P</a><a href='http://example.invalid/x.html'>X</a>"
        b"<a href=/img/a.png>pic</a></body></html>"
    )
    return {
        "/": (200, "text/html; charset=utf-8", page),
        "/img/a.png": (200, "image/png", PNG),
        "/wrong.png": (200, "text/html", b"<html></html>"),
        "/about/": (200, "text/html", b"<img src=../img/a.png><a href=/>home</a>"),
        "/private.html": (200, "text/html", b"<img src=/img/a.png>"),
        "/robots.txt": (200, "text/plain", b"User-agent: *\nDisallow: /private.html\n"),
        **(extra or {}),
    }


def test_url_target_with_crawl_and_robots(tmp_path):
    with serve(routes()) as base:
        result = run([base + "/"], out=tmp_path / "out", crawl_depth=1)
    host = base.removeprefix("http://").replace(":", "_")
    pages = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.html"))
    assert pages == [f"{host}/about/index.html", f"{host}/index.html"]
    assert [(r.action, r.reason) for r in result.records if r.page == base + "/"] == [
        ("filled", "missing alt"),
        ("skipped", "HTTP 404 Not Found"),
        ("skipped", "content type is text/html, not image"),
    ]
    about = (tmp_path / "out" / host / "about" / "index.html").read_bytes()
    assert about == b"<img src=../img/a.png" + gen(PNG) + b"><a href=/>home</a>"
    assert not result.failures


def test_a_failed_page_does_not_stop_the_run(tmp_path):
    with serve(routes({"/about/": (500, "text/html", b"")})) as base:
        result = run([base + "/", base + "/nowhere.html"], out=tmp_path / "out", crawl_depth=1)
    assert sorted(f.reason for f in result.failures) == ["HTTP 404 Not Found", "HTTP 500 Internal Server Error"]
    assert result.pages == 1


# -- the command line


def cli_app(monkeypatch, describer=None):
    monkeypatch.setattr(alttext.describe, "make_describer", lambda *a, **k: describer or FakeDescriber())
    app = typer.Typer()
    app.command("fill")(fill_cli.fill)
    app.command("check")(fill_cli.check)
    return app


def invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_fill_exit_codes_and_summary(site, tmp_path, monkeypatch):
    app = cli_app(monkeypatch)
    result = invoke(app, "fill", site, "--report", tmp_path / "r.json", "--review", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert "filled: 3" in result.stderr and "pages 2/2" in result.stderr
    assert len(json.loads((tmp_path / "r.json").read_text())) == 5
    missing = invoke(app, "fill", tmp_path / "nope.html")
    assert missing.exit_code == 1
    assert f"alttext: {tmp_path / 'nope.html'}: no such file" in missing.stderr
    assert "Traceback" not in missing.output


@pytest.mark.parametrize(
    "args",
    [
        ["http://127.0.0.1:9/"],
        ["x.html", "--marker", "not a marker"],
        ["x.html", "--min-confidence", "2"],
        ["x.html", "--report", "/no/such/dir/r.json"],
        ["x.html", "--device", "tpu"],
    ],
)
def test_cli_usage_errors_exit_2(monkeypatch, args):
    result = invoke(cli_app(monkeypatch), "fill", *args)
    assert result.exit_code == 2, result.output


def test_cli_unwritable_output_is_one_clear_line(site, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke(cli_app(monkeypatch), "fill", site, "--out", blocker / "out")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"alttext: {blocker / 'out'}: cannot create the output directory (Not a directory)"


def test_page_that_cannot_be_written_fails_alone(site, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "docs").write_text("a file where a folder should be")
    result = run([site], out=tmp_path / "out")
    assert [f.source for f in result.failures] == [str(tmp_path / "out" / "docs" / "index.htm")]
    assert "cannot write" in result.failures[0].reason
    assert (tmp_path / "out" / "index.html").exists()


def test_cli_check_lists_what_needs_alt_and_gates(site, monkeypatch):
    app = cli_app(monkeypatch)
    result = invoke(app, "check", site)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{site / 'index.html'}:3: img/a.png: missing alt",
        f"{site / 'index.html'}:5: img/copy-of-a.png: only content of its <a>: alt must say its purpose",
        f"{site / 'docs' / 'index.htm'}:1: ../img/b.jpg: missing alt",
        f"{site / 'docs' / 'index.htm'}:1: /img/a.png/: missing alt",
    ]
    assert invoke(app, "fill", site).exit_code == 0
    after = invoke(app, "check", site)  # the link's image: written, flagged, not reviewed yet
    assert after.exit_code == 1 and after.stdout.splitlines() == [
        f"{site / 'index.html'}:5: img/copy-of-a.png: machine alt awaiting a person's review: “{caption_of(PNG)}”"
    ]
    assert invoke(app, "check", site, "--fail-on", "missing,suspicious").exit_code == 0


def test_cli_check_on_a_url_with_crawl(monkeypatch):
    with serve(routes()) as base:
        result = invoke(cli_app(monkeypatch), "check", base + "/", "--crawl-depth", "1")
    assert result.exit_code == 1
    assert sorted({line.split(":")[2].split("/", 1)[-1] for line in result.stdout.splitlines()}) == ["", "about/"]


def test_pre_commit_hooks_are_defined():
    hooks = (TESTS.parent / ".pre-commit-hooks.yaml").read_text()
    for line in (
        "id: alttext-check",
        "id: alttext-fill",
        "entry: alttext check",
        "entry: alttext fill",
        "types: [html]",
    ):
        assert line in hooks


# -- a run killed midway


def test_killed_run_leaves_every_page_original_or_fully_patched(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    filler = b"<p>" + b"padding " * 20000 + b"</p>\n"
    for n in range(24):
        (pages / f"i{n}.png").write_bytes(encode(gradient((20 + n, 20)), "PNG"))
        (pages / f"p{n:02}.html").write_bytes(filler + f"<img src=i{n}.png>".encode() + filler)
    originals = {p.name: p.read_bytes() for p in pages.glob("*.html")}
    expected_dir = tmp_path / "expected"
    shutil.copytree(pages, expected_dir)
    run([expected_dir])
    expected = {p.name: p.read_bytes() for p in expected_dir.glob("*.html")}

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    child = subprocess.Popen([sys.executable, str(TESTS / "slow_fill.py"), str(pages), "0.05"], env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = sum((pages / name).read_bytes() == expected[name] for name in expected)
            if done >= 4:
                break
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    now = {p.name: p.read_bytes() for p in pages.glob("*.html")}
    assert now.keys() == originals.keys()
    assert all(now[n] in (originals[n], expected[n]) for n in now)
    assert 4 <= sum(now[n] == expected[n] for n in now) < len(now)


# -- cache, progress, atomic writes, parallel loading


def test_cache_is_keyed_by_model_id(site, cache_dir):
    run([site], dry_run=True)
    other = FakeDescriber()
    other.model_id = "another-model"
    run([site], other, dry_run=True)
    assert other.images_described == 2
    assert (cache_dir / "captions.sqlite3").is_file()


def test_cache_lives_in_the_user_cache_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("ALTTEXT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "alttext"


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_elsewhere():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = Progress(terminal, total=4)
    progress.advance(1, 3)
    progress.advance(1, 2)
    progress.done()
    assert terminal.getvalue().startswith("\r[" + "#" * 8 + "." * 22 + "] pages 1/4, images 3")
    plain = io.StringIO()
    progress = Progress(plain, total=4, every_s=0)
    progress.advance(1, 3)
    progress.done()
    assert plain.getvalue() == "pages 1/4, images 3\npages 1/4, images 3\n"


def test_a_failed_atomic_write_leaves_no_temporary_file(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError):
        atomic.write_bytes(tmp_path / "folder", b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]


def test_images_load_in_parallel(tmp_path):
    images = {f"/{n}.png": (200, "image/png", encode(gradient((10 + n, 10)), "PNG"), 0.3) for n in range(6)}
    page = b"".join(f"<img src={n}.png>".encode() for n in range(6))
    with serve({"/": (200, "text/html", page), **images}) as base:
        started = time.monotonic()
        result = run([base + "/"], dry_run=True, workers=6)
        elapsed = time.monotonic() - started
    assert [r.action for r in result.records] == ["filled"] * 6
    assert elapsed < 1.2  # one after another would take 1.8 s


def test_cli_fill_with_the_real_describer(tiny_bundle, site, tmp_path):
    app = typer.Typer()
    app.command("fill")(fill_cli.fill)
    app.command("check")(fill_cli.check)
    args = ["fill", str(site), "--model", str(tiny_bundle), "--device", "cpu", "--min-confidence", "0"]
    result = CliRunner().invoke(app, [*args, "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    filled = [r for r in json.loads((tmp_path / "r.json").read_text()) if r["action"] == "filled"]
    assert filled and all(r["alt"][0].isupper() and r["alt"].endswith(".") for r in filled)
    assert CliRunner().invoke(app, ["fill", str(site), "--model", str(tiny_bundle)]).exit_code == 0


# -- one bad input fails alone; the command line's guards


def test_bad_urls_and_charsets_fail_one_image_or_page(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.png").write_bytes(PNG)
    pages = {
        "v6.html": b'<img src="http://[::1/x.jpg"><img src=a.png>',
        "base.html": b'<base href="http://[x"><img src=a.png>',
        "idna.html": b'<meta charset="idna"><img src=a.png>',
        "undefined.html": b"<meta charset=undefined><img src=a.png>",
        "jis.html": b"<meta charset=iso-2022-jp><img src=a.png>",
    }
    for name, page in pages.items():
        (site / name).write_bytes(page)
    result = run([site], remote_images=True)
    assert [(f.source, f.reason) for f in result.failures] == [
        (str(site / "jis.html"), "its charset is iso-2022-jp, whose bytes alttext cannot edit in place")]
    assert [(r.page.rsplit("/", 1)[1], r.action, r.reason) for r in result.records if r.action != "filled"] == [
        ("v6.html", "skipped", "not a valid URL")]
    for name in ("v6.html", "base.html", "idna.html", "undefined.html"):
        assert (site / name).read_bytes().endswith(b"<img src=a.png" + gen(PNG) + b">"), name
    cli = invoke(cli_app(monkeypatch), "fill", site)
    assert cli.exit_code == 1 and "Traceback" not in cli.output
    assert f"alttext: {site / 'jis.html'}: its charset is iso-2022-jp" in cli.stderr


def test_root_names_the_site_root_of_a_single_page(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(PNG)
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "p.html"
    page.write_bytes(b"<img src=/img/a.png>")
    assert [r.reason for r in run([page], dry_run=True).records] == ["no such file"]
    run([page], root=tmp_path)
    assert page.read_bytes() == b"<img src=/img/a.png" + gen(PNG) + b">"


def test_remote_images_on_a_local_site_only_when_asked(tmp_path):
    with serve({"/a.png": (200, "image/png", PNG)}) as base:
        (tmp_path / "p.html").write_bytes(f"<img src={base}/a.png>".encode())
        offline = run([tmp_path / "p.html"], dry_run=True)
        online = run([tmp_path / "p.html"], dry_run=True, remote_images=True)
    assert [(r.action, r.reason) for r in offline.records] == [
        ("skipped", "an image on the web: a local run reads none (--remote-images reads them)")]
    assert [r.action for r in online.records] == ["filled"]


def test_cli_check_counts_the_pages_that_need_work(site, monkeypatch):
    (site / "done.html").write_bytes(b"<img src=img/a.png alt='A gradient.'>")
    result = invoke(cli_app(monkeypatch), "check", site)
    assert result.stderr.splitlines()[-1] == (
        "alttext: 4 images need alt text or review, in 2 of 3 pages (missing 4, review 0, suspicious 0)")


@pytest.mark.parametrize("command", ["fill", "check"])
def test_cli_no_pages_or_a_page_that_is_not_html_is_a_usage_error(tmp_path, monkeypatch, command):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a.png").write_bytes(PNG)
    app = cli_app(monkeypatch)
    empty = invoke(app, command, tmp_path / "empty")
    assert empty.exit_code == 2 and "no HTML pages found" in empty.output
    picture = invoke(app, command, tmp_path / "a.png")
    assert picture.exit_code == 2 and "not an HTML page" in picture.output


def test_cli_version_and_telemetry_off(site, monkeypatch):
    import onnxruntime

    from alttext import __version__
    from alttext.cli import app

    assert CliRunner().invoke(app, ["--version"]).stdout == f"alttext {__version__}\n"
    calls = []
    monkeypatch.setattr(onnxruntime, "disable_telemetry_events", lambda: calls.append(True))
    assert invoke(cli_app(monkeypatch), "fill", site, "--dry-run").exit_code == 0
    assert calls == [True]


def test_english_descriptions_are_not_written_into_pages_in_another_language(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "a.png").write_bytes(PNG)
    (root / "b.jpg").write_bytes(JPEG)
    page = root / "de.html"
    original = (b'<html lang="de-AT"><body><img src=a.png>'
                b'<div lang=en-GB><img src=b.jpg></div></body></html>')
    page.write_bytes(original)
    result = run([root], min_confidence=0.0)
    written = page.read_bytes()
    assert b'<img src=a.png>' in written  # German text around it: the English caption is not written
    assert f'<img src=b.jpg alt="{caption_of(JPEG)}"'.encode() in written  # the English part gets it
    german = next(r for r in result.records if r.source.endswith("a.png"))
    assert german.action == "review" and "'de-AT'" in german.reason and caption_of(PNG) in german.reason


SHOT = encode(gradient((120, 90)), "PNG")
OTHER_SHOT = encode(gradient((120, 91)), "PNG")


@pytest.fixture
def two_languages(tmp_path) -> Path:
    """The same screenshot and photo on a German page and an English one."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "shot.png").write_bytes(SHOT)
    (root / "a.png").write_bytes(PNG)
    (root / "de.html").write_bytes(b"<html lang=de-AT><body><img src=shot.png><img src=a.png></body></html>")
    (root / "en.html").write_bytes(b"<html lang=en><body><img src=shot.png><img src=a.png></body></html>")
    return root


def alts_by_page(result: fill.Run) -> dict[tuple[str, str], str | None]:
    return {(Path(r.page).name, Path(r.source).name): r.alt for r in result.records}


def test_a_screenshot_is_read_and_worded_in_each_page_language(two_languages, fake_ocr, tmp_path):
    describer = ScreenshotDescriber(SHOT)
    try:
        result = run([two_languages], describer, out=tmp_path / "out", min_confidence=0.0)
    finally:
        describer.reader.close()
    assert alts_by_page(result) == {("de.html", "shot.png"): "Bildschirmfoto: lang de.",
                                    ("de.html", "a.png"): None,  # the English caption is not written there
                                    ("en.html", "shot.png"): "Screenshot of lang en.",
                                    ("en.html", "a.png"): caption_of(PNG)}
    assert b'alt="Bildschirmfoto: lang de."' in (tmp_path / "out" / "de.html").read_bytes()
    # the screenshot is described in each language, the photo once: its caption is the same in both
    assert sorted(zip(sum(describer.calls, []), sum(describer.languages, []))) == [
        (str(two_languages / "a.png"), "de"), (str(two_languages / "shot.png"), "de"),
        (str(two_languages / "shot.png"), "en")]

    again = FakeDescriber()
    again.model_id = describer.model_id  # the cache answers both languages: nothing is described again
    assert alts_by_page(run([two_languages], again, out=tmp_path / "out2", min_confidence=0.0)) == \
        alts_by_page(result) and again.calls == []


def test_a_page_in_a_language_without_screenshot_wording_gets_a_flag(tmp_path, fake_ocr):
    (tmp_path / "shot.png").write_bytes(SHOT)
    (tmp_path / "ko.html").write_bytes(b"<html lang=ko><img src=shot.png></html>")
    describer = ScreenshotDescriber(SHOT)
    try:
        [record] = run([tmp_path / "ko.html"], describer).records
    finally:
        describer.reader.close()
    assert record.action == "review" and record.alt is None and "'ko'" in record.reason
    assert b"alt=" not in (tmp_path / "ko.html").read_bytes()


def test_screenshots_that_got_the_same_alt_on_one_page_are_flagged(tmp_path, fake_ocr):
    for name, data in (("one.png", SHOT), ("two.png", OTHER_SHOT), ("a.png", PNG)):
        (tmp_path / name).write_bytes(data)
    (tmp_path / "p.html").write_bytes(b"<img src=one.png><img src=two.png><img src=a.png>")
    (tmp_path / "q.html").write_bytes(b"<img src=one.png>")
    describer = ScreenshotDescriber(SHOT, OTHER_SHOT)
    try:
        result = run([tmp_path], describer)
    finally:
        describer.reader.close()
    same = "2 screenshots on this page got this same alt"
    reasons = {(Path(r.page).name, Path(r.source).name): r.reason for r in result.records}
    assert same in reasons[("p.html", "one.png")] and same in reasons[("p.html", "two.png")]
    assert same not in reasons[("q.html", "one.png")]  # alone on its page
    assert {r.alt for r in result.records if r.kind == "screenshot"} == {"Screenshot of lang en."}


def test_a_description_read_by_ocr_holds_only_in_its_own_language():
    from dataclasses import replace

    from alttext.describe import Description
    from alttext.fill import lookup, place

    text = Description("a.png", "alt", "Öffnen", kind="text")
    photo = Description("b.jpg", "alt", "A cat.", kind="photo")
    kept = {place("t@de", text, {"text"}): text, place("p@de", photo, {"text"}): photo}
    assert set(kept) == {"t@de", "p"}  # the photo's description holds for every language
    assert lookup(kept.get, "t@de", {"text"}) == ("t@de", text)
    assert lookup(kept.get, "t@fr", {"text"}) is None and lookup(kept.get, "t", {"text"}) is None
    assert lookup(kept.get, "p@fr", {"text"}) == ("p", photo)
    kept["t"] = replace(text, alt="Open")
    assert lookup(kept.get, "t@fr", {"text"}) is None  # an English reading is not the French page's


def test_a_flagged_pictures_guess_is_offered_after_the_pages_own_words(site):
    result = run([site], min_confidence=1.0)  # every fake caption is under it: flagged, nothing written
    flagged = [r for r in result.records if r.source == "img/a.png"]
    assert flagged and all(r.action == "review" and r.alt is None for r in flagged)
    assert all(r.suggestions[-1] == caption_of(PNG) for r in flagged)
