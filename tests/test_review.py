"""`alttext review`: the real page on 127.0.0.1 in real Chromium (Playwright), driven by the keyboard:
accept, edit and decorative each end up in every page that shows the picture and in the decisions file;
axe-core finds no violation on the page."""

import hashlib
import http.client
import json
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from browser import axe_violations
from imagefiles import encode, gradient
from live_service import call, serving
from typer.testing import CliRunner

from alttext import decisions
from alttext.cli import app
from alttext.review import Site, app_of

TEAM, RULE, CHART = (encode(gradient(size), "PNG") for size in ((64, 48), (80, 8), (90, 60)))
PAGES = {
    "a.html": b'<!DOCTYPE html><html lang="en"><title>a</title>\n<img src="img/team.png">\n<img src="img/rule.png">\n'
              b'<figure><img src="img/chart.png"><figcaption>Sales by month</figcaption></figure>\n',
    "docs/b.html": b'<!DOCTYPE html><html lang="en"><title>b</title>\n<p><img src=/img/team.png></p>\n'
                   b'<img alt="A chart." src="../img/chart.png" data-alt-generated="alttext review">\n',
    "c.html": b'<!DOCTYPE html><html lang="en"><title>c</title>\n<img src="img/team.png" alt="Our team">\n',
}


@pytest.fixture
def site(tmp_path):
    for name, data in {**PAGES, "img/team.png": TEAM, "img/rule.png": RULE, "img/chart.png": CHART}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    found = Site(tmp_path, tmp_path / ".alttext.json")
    found.gather()
    return found


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_each_picture_is_listed_once_with_its_pages_and_suggestions(site):
    assert set(site.pictures) == {digest(TEAM), digest(RULE), digest(CHART)}
    team, chart = site.pictures[digest(TEAM)], site.pictures[digest(CHART)]
    assert [p.link for p in team.places] == ["a.html", "docs/b.html"]  # c.html has a person's alt
    assert team.suggestions == ["Team"] and not team.machine
    assert chart.suggestions == ["A chart.", "Sales by month"] and chart.machine  # "chart.png" says nothing


def test_the_reports_suggestions_come_after_the_pages_own(site):
    report = [{"page": str(site.site / "a.html"), "line": 4, "suggestions": ["Sales by month", "A bird."]}]
    again = Site(site.site, site.site / ".alttext.json", report)
    again.gather()
    assert again.pictures[digest(CHART)].suggestions == ["A chart.", "Sales by month", "A bird."]


def test_accept_edit_and_decorative_reach_every_page_and_the_file(site, chromium):
    root = site.site
    with serving(None, app_of(site)) as server:
        page = chromium.new_page()
        page.goto(server.url + "/")
        assert axe_violations(page) in ([], None)
        progress = page.locator("#progress")
        assert progress.get_attribute("aria-live") == "polite" and progress.inner_text() == "0 of 3 pictures done"
        assert page.locator("section.picture").count() == 3

        def section(data: bytes):
            return page.locator(f'section[data-digest="{digest(data)}"]')

        section(TEAM).locator("h2").focus()
        page.keyboard.press("a")  # accept the suggestion
        page.wait_for_function("document.getElementById('progress').textContent.startsWith('1 of 3')")
        assert page.evaluate("document.activeElement.closest('section').dataset.digest") != digest(TEAM)
        section(CHART).locator("h2").focus()
        page.keyboard.press("e")  # edit: into the text box
        page.keyboard.press("Control+a")
        page.keyboard.type("Sales by month, January to June: rising.")
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('progress').textContent.startsWith('2 of 3')")
        section(RULE).locator("h2").focus()
        page.keyboard.press("d")
        page.wait_for_function("document.getElementById('progress').textContent.startsWith('3 of 3')")
        assert "written to 1 page" in section(RULE).locator(".outcome").inner_text()
        assert "written to 2 pages" in section(TEAM).locator(".outcome").inner_text()
        assert page.locator('a[href="/site/docs/b.html"]').count() == 2
        assert page.request.get(server.url + "/site/docs/b.html").body() == (root / "docs/b.html").read_bytes()

    assert (root / "a.html").read_bytes() == PAGES["a.html"].replace(
        b'src="img/team.png">', b'src="img/team.png" alt="Team" data-alt-generated="alttext">').replace(
        b'src="img/rule.png">', b'src="img/rule.png" alt="" data-alt-generated="alttext">').replace(
        b'src="img/chart.png">', b'src="img/chart.png" alt="Sales by month, January to June: rising." '
                                 b'data-alt-generated="alttext">')
    assert (root / "docs/b.html").read_bytes() == PAGES["docs/b.html"].replace(
        b"src=/img/team.png>", b'src=/img/team.png alt="Team" data-alt-generated="alttext">').replace(
        b'alt="A chart."', b'alt="Sales by month, January to June: rising."').replace(
        b'"alttext review"', b'"alttext"')
    assert (root / "c.html").read_bytes() == PAGES["c.html"]  # a person's alt stays
    text = (root / ".alttext.json").read_text(encoding="utf-8")
    assert text == decisions.dumps(json.loads(text)["images"])  # sorted, as documented
    entries = decisions.load(root / ".alttext.json", True).entries
    assert {d: {k: v for k, v in e.items() if k in ("alt", "decorative")} for d, e in entries.items()} == {
        digest(TEAM): {"alt": "Team"}, digest(CHART): {"alt": "Sales by month, January to June: rising."},
        digest(RULE): {"decorative": True}}


def test_other_origins_and_bad_decisions_are_refused_and_skip_writes_nothing(site):
    with serving(None, app_of(site)) as server:
        body = {"digest": digest(TEAM), "alt": "x"}
        status, _, answer = call(server.url, "POST", "/v1/decide", body, {"Origin": "http://example.org"})
        assert status == 403
        status, _, answer = call(server.url, "POST", "/v1/decide", {"digest": digest(TEAM), "alt": "  "})
        assert status == 400 and "decorative" in answer["error"]
        status, _, answer = call(server.url, "POST", "/v1/decide", {"digest": "0" * 64, "alt": "x"})
        assert status == 400
        status, _, answer = call(server.url, "POST", "/v1/decide", {"digest": digest(TEAM), "skip": True})
        assert status == 200 and answer == {"pages": 0, "decided": 1, "total": 3}  # skip writes nothing
    assert not (site.site / ".alttext.json").exists() and (site.site / "a.html").read_bytes() == PAGES["a.html"]


def test_cli_prints_the_url_serves_the_page_and_stops_on_ctrl_c(site):
    args = [sys.executable, "-m", "alttext", "review", str(site.site), "--port", "0"]
    child = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stderr.readline()
        assert line.startswith("alttext: 3 pictures need a person; open http://127.0.0.1:"), line
        status, headers, _ = raw_get(line.split()[7])
        assert status == 200 and headers["content-type"].startswith("text/html")
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 0
        assert child.stderr.read() == "alttext: stopped: 0 of 3 pictures done\n"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()


def raw_get(url: str):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_cli_a_broken_decisions_file_or_a_missing_site_is_one_line(tmp_path):
    broken = tmp_path / ".alttext.json"
    broken.write_text("{", encoding="utf-8")
    result = CliRunner().invoke(app, ["review", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1 and result.output.startswith(f"alttext: {broken}: not JSON")
    assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(app, ["review", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and result.output == f"alttext: {tmp_path / 'nowhere'}: not a folder\n"


def test_cli_a_report_whose_suggestions_are_not_texts_is_one_line(tmp_path):
    (tmp_path / "a.html").write_bytes(PAGES["a.html"])
    report = tmp_path / "r.json"
    report.write_text(json.dumps([{"page": "a.html", "line": 2, "suggestions": "A bird."}]), encoding="utf-8")
    result = CliRunner().invoke(app, ["review", str(tmp_path), "--report", str(report), "--port", "0"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    why = "not a fill --report JSON (a record's suggestions are not a list of texts)"
    assert result.output == f"alttext: {report}: {why}\n"
