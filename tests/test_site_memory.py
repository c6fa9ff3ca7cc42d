"""The site's own knowledge before any model: a person's alt for the same picture on another page
(reuse), the decisions file (.alttext.json), through the real CLI on real files."""

import hashlib
import json
from pathlib import Path

import pytest
import typer
from fake_describer import FakeDescriber, caption_of
from imagefiles import encode, gradient
from typer.testing import CliRunner

import alttext.describe
from alttext import fill_cli
from alttext.decisions import dumps

pytestmark = pytest.mark.usefixtures("private_cache")

LOGO = encode(gradient((40, 30)), "PNG")
PHOTO = encode(gradient((64, 48)), "JPEG")


class Refusing(FakeDescriber):
    """Fails the test when asked to describe the given bytes."""

    def __init__(self, *forbidden: bytes):
        super().__init__()
        self.forbidden = forbidden

    def __call__(self, items):
        assert not [item for item in items if item[1] in self.forbidden], "the model ran for a picture the site knows"
        return super().__call__(items)


@pytest.fixture
def site(tmp_path) -> Path:
    root = tmp_path / "site"
    (root / "img").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "img" / "logo.png").write_bytes(LOGO)
    (root / "img" / "logo-copy.png").write_bytes(LOGO)  # same bytes, another name
    (root / "img" / "photo.jpg").write_bytes(PHOTO)
    (root / "about.html").write_bytes(b"<p>About us</p>\n<img src=img/logo.png alt='Acme Corp.'>\n")
    (root / "index.html").write_bytes(b"<h1>Home</h1>\n<img src=img/logo.png>\n<img src=img/photo.jpg>\n")
    (root / "docs" / "a.html").write_bytes(b"<img src=../img/logo-copy.png>\n<a href=/><img src=/img/logo.png></a>\n")
    return root


def fill(monkeypatch, describer, *args):
    monkeypatch.setattr(alttext.describe, "make_describer", lambda *a, **k: describer)
    app = typer.Typer()
    app.command("fill")(fill_cli.fill)
    app.command("check")(fill_cli.check)
    return CliRunner().invoke(app, ["fill", *[str(a) for a in args]])


def records(path: Path) -> list[dict]:
    return json.loads(path.read_text())


def test_a_persons_alt_reaches_every_page_with_the_same_bytes_without_the_model(site, tmp_path, monkeypatch):
    describer = Refusing(LOGO)
    result = fill(monkeypatch, describer, site, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert (site / "index.html").read_bytes() == (
        b'<h1>Home</h1>\n<img src=img/logo.png alt="Acme Corp." data-alt-generated="alttext">\n'
        b'<img src=img/photo.jpg alt="' + caption_of(PHOTO).encode() + b'" data-alt-generated="alttext">\n'
    )
    # as plain there and here: reused; as a link's only content: reused, and a person checks it
    assert (site / "docs" / "a.html").read_bytes() == (
        b'<img src=../img/logo-copy.png alt="Acme Corp." data-alt-generated="alttext">\n'
        b'<a href=/><img src=/img/logo.png alt="Acme Corp." data-alt-generated="alttext review"></a>\n'
    )
    assert describer.images_described == 1
    reused = [r for r in records(tmp_path / "r.json") if r["origin"] == "reused"]
    assert [(Path(r["page"]).name, r["action"]) for r in reused] == [("index.html", "filled"), ("a.html", "filled"),
                                                                       ("a.html", "review")]
    assert reused[0]["reason"] == f"reused from {site / 'about.html'}:2"
    assert "there it is plain, here the only content of a link or button" in reused[2]["reason"]
    assert "reused from the site's pages: 3" in result.stderr


def test_people_who_disagree_are_not_reused_but_flagged(site, tmp_path, monkeypatch):
    (site / "other.html").write_bytes(b"<img src=img/logo-copy.png alt='Acme logo'>")
    describer = FakeDescriber()
    result = fill(monkeypatch, describer, site, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    index = next(r for r in records(tmp_path / "r.json") if r["page"].endswith("index.html"))
    assert index["alt"] == caption_of(LOGO) and index["action"] == "review" and index["origin"] == "model"
    assert "people wrote different alt for this picture" in index["reason"] and "Acme logo" in index["reason"]
    assert b'data-alt-generated="alttext review"' in (site / "index.html").read_bytes()


def test_decorative_is_reused_only_when_it_is_the_only_decision(site, monkeypatch):
    (site / "about.html").write_bytes(b"<img src=img/logo.png alt=''>")
    describer = FakeDescriber()
    fill(monkeypatch, describer, site)
    assert b'<img src=img/logo.png alt="" data-alt-generated="alttext">' in (site / "index.html").read_bytes()
    assert b'<img src=../img/logo-copy.png alt="" data-alt-generated="alttext">' in (
        site / "docs" / "a.html").read_bytes()
    # as a link's only content, alt="" would leave the link without a name: the model writes, a person reviews
    assert caption_of(LOGO).encode() + b'" data-alt-generated="alttext review"></a>' in (
        site / "docs" / "a.html").read_bytes()
    assert describer.images_described == 2  # the photo, and the logo for the link
    (site / "more.html").write_bytes(b"<img src=img/logo.png alt='Acme Corp.'><img src=img/logo-copy.png>")
    fill(monkeypatch, FakeDescriber(), site)  # now people disagree: alt="" and "Acme Corp."
    assert caption_of(LOGO).encode() + b'" data-alt-generated="alttext review">' in (site / "more.html").read_bytes()


def test_suspicious_alt_and_no_reuse_leave_it_to_the_model(site, monkeypatch):
    (site / "about.html").write_bytes(b"<img src=img/logo.png alt='IMG_0436.jpg'>")
    describer = FakeDescriber()
    fill(monkeypatch, describer, site)
    assert caption_of(LOGO).encode() in (site / "index.html").read_bytes()
    (site / "about.html").write_bytes(b"<img src=img/logo.png alt='Acme Corp.'>")
    (site / "new.html").write_bytes(b"<img src=img/logo.png>")
    fill(monkeypatch, FakeDescriber(), site, "--no-reuse")
    assert caption_of(LOGO).encode() in (site / "new.html").read_bytes()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_decisions_file_answers_first_on_every_page(site, tmp_path, monkeypatch):
    decisions = dumps({digest(LOGO): {"alt": "The Acme logo.", "date": "2026-12-01"},
                       digest(PHOTO): {"decorative": True}})
    (site / ".alttext.json").write_text(decisions)
    describer = Refusing(LOGO, PHOTO)
    result = fill(monkeypatch, describer, site, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert (site / "index.html").read_bytes() == (
        b'<h1>Home</h1>\n<img src=img/logo.png alt="The Acme logo." data-alt-generated="alttext">\n'
        b'<img src=img/photo.jpg alt="" data-alt-generated="alttext">\n'
    )
    assert b'<a href=/><img src=/img/logo.png alt="The Acme logo." data-alt-generated="alttext"></a>' in (
        site / "docs" / "a.html").read_bytes()
    assert describer.calls == []
    assert {r["origin"] for r in records(tmp_path / "r.json") if r["action"] != "kept"} == {"decision"}
    assert "from the site's decisions: 4" in result.stderr
    assert (site / ".alttext.json").read_text() == decisions  # fill never writes it


def test_decisions_path_and_bad_files_are_one_line(site, tmp_path, monkeypatch):
    elsewhere = tmp_path / "decisions.json"
    elsewhere.write_text(dumps({digest(PHOTO): {"alt": "A test card."}}))
    assert fill(monkeypatch, FakeDescriber(), site, "--decisions", elsewhere).exit_code == 0
    assert b'alt="A test card."' in (site / "index.html").read_bytes()
    before = {p: p.read_bytes() for p in site.rglob("*.html")}
    for text, why in [("{", "not JSON"), ('{"images": {"abc": {"alt": "x"}}}', "not a lower-case SHA-256"),
                      (dumps({digest(LOGO): {"alt": " "}}), 'needs a non-empty "alt"')]:
        (site / "new.html").write_bytes(b"<img src=img/logo.png>")
        (site / ".alttext.json").write_text(text)
        result = fill(monkeypatch, FakeDescriber(), site)
        assert result.exit_code == 1 and why in result.stderr and "Traceback" not in result.output
        assert str(site / ".alttext.json") in result.stderr
        assert (site / "new.html").read_bytes() == b"<img src=img/logo.png>"
    assert {p: p.read_bytes() for p in site.rglob("*.html") if p.name != "new.html"} == before
    missing = fill(monkeypatch, FakeDescriber(), site, "--decisions", tmp_path / "none.json")
    assert missing.exit_code == 1 and "no such decisions file" in missing.stderr


def test_page_context_is_offered_as_suggestions_not_written(site, tmp_path, monkeypatch):
    (site / "img" / "team-photo_2026@2x.png").write_bytes(PHOTO)
    (site / "team.html").write_bytes(
        b"<figure><img src=img/team-photo_2026@2x.png title='At the meetup'>"
        b"<figcaption>The team in Lyon, 2026.</figcaption></figure>\n<img src=img/IMG_0436.png>")
    (site / "img" / "IMG_0436.png").write_bytes(PHOTO)
    result = fill(monkeypatch, FakeDescriber(), site / "team.html", "--fill-titled", "--report", tmp_path / "r.json",
                  "--review", tmp_path / "review.html")
    assert result.exit_code == 0, result.output
    found = [r["suggestions"] for r in records(tmp_path / "r.json")]
    assert found == [["The team in Lyon, 2026.", "At the meetup", "Team photo"], None]
    assert caption_of(PHOTO).encode() in (site / "team.html").read_bytes()
    assert "Suggestions from its pages: “The team in Lyon, 2026.”" in (tmp_path / "review.html").read_text()


@pytest.mark.parametrize(("href", "expected"), [
    ("/about/contact.html", "Contact"), ("../blog/", "Blog"), ("/docs/index.html", "Docs"), ("/", "Home"),
    ("https://www.example.org/", "example.org"), ("team-photos.html?page=2#top", "Team photos"),
    ("#top", ""), ("mailto:a@example.org", ""), ("javascript:void(0)", ""), ("/p/12345.html", ""),
])
def test_a_links_target_as_words(href, expected):
    from alttext.hints import link_words

    assert link_words(href) == expected


def test_the_link_target_is_a_suggestion(site, tmp_path, monkeypatch):
    (site / "contact.html").write_bytes(b'<a href="/about/contact.html"><img src=img/logo.png></a>')
    result = fill(monkeypatch, FakeDescriber(), site / "contact.html", "--report", tmp_path / "r.json", "--no-reuse")
    assert result.exit_code == 0, result.output
    assert records(tmp_path / "r.json")[0]["suggestions"] == ["Contact"]


def test_only_pages_that_may_hold_a_persons_alt_are_parsed_in_the_first_pass():
    from alttext.reuse import may_hold_human_alt

    assert may_hold_human_alt(b'<p><IMG SRC=a.png ALT = "A cat"></p>')
    assert not may_hold_human_alt(b"<p><img src=a.png></p><p>Although</p>")
    assert may_hold_human_alt('<img src=a.png alt="A cat">'.encode("utf-16"))  # its bytes hide the text
