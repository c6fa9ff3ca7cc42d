"""`check` finds what needs a person, and `fill --overwrite-suspicious` replaces what says nothing:
real pages in a temporary site, the real CLI."""

import hashlib
import json

import pytest
import typer
from fake_describer import FakeDescriber, caption_of
from imagefiles import encode, gradient
from typer.testing import CliRunner

import alttext.describe
from alttext import fill_cli
from alttext.fill import REPEATS
from alttext.suspicious import codes

pytestmark = pytest.mark.usefixtures("private_cache")

PICTURES = {name: encode(gradient((20 + i, 20)), "PNG") for i, name in enumerate([*"abcdefghijk", "home"])}

PAGE = """<!DOCTYPE html>
<p><img src=a.png alt="IMG_0436.jpg"></p>
<img src=b.png alt="image">
<img src=c.png alt=" * ">
<a href=big.html><img src=d.png alt="Click for larger image."></a>
<a href=/><img src=home.png alt="Home">Home</a>
<img src=e.png alt="The team at the 2026 meetup.">
<img src=f.png alt="Chart of sales." data-alt-generated="alttext review">
<img src=g.png alt="A cat." data-alt-generated="alttext">
<img src=h.png>
<img src=i.png alt="">
<img src=j.png alt="Our logo.">
"""
OTHER = '<img src=k.png alt="Our logo."><img src=j.png alt="Our logo.">'


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(PAGE)
    (root / "other.html").write_text(OTHER)
    for name, data in PICTURES.items():
        (root / f"{name}.png").write_bytes(data)
    return root


def invoke(monkeypatch, *args):
    monkeypatch.setattr(alttext.describe, "make_describer", lambda *a, **k: FakeDescriber())
    app = typer.Typer()
    app.command("fill")(fill_cli.fill)
    app.command("check")(fill_cli.check)
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(("alt", "nearby", "expected"), [
    ("IMG_0436.jpg", "", ["file-name"]), ("DSC01234", "", ["file-name"]), ("photo.PNG", "", ["file-name"]),
    ("image", "", ["placeholder"]), ("Photo.", "", ["placeholder"]), ("spacer", "", ["placeholder"]),
    ("*", "", ["placeholder"]), ("picture", "", ["placeholder"]), ("Click for larger image.", "", ["click"]),
    ("Home", "Home", ["redundant"]), ("Home", " home. ", ["redundant"]),
    ("A red bicycle against a wall.", "", []), ("Home", "Back to the home page", []), ("Q3 sales by region.", "", []),
    ("Image of a dog in the snow.", "", ["image-of"]), ("Company logo graphic", "", ["image-of"]),
    ("Bullet point", "", ["placeholder"]), ("Chart", "", ["placeholder"]), ("More", "", ["placeholder"]),
    ("Sales by region.png", "", ["file-name"]), ("A" + " long" * 20 + ".", "", ["long"]),
    ("A photographer's imagery.", "", []),
])
def test_suspicious_rules(alt, nearby, expected):
    assert codes(alt, (nearby,)) == expected


def test_check_lists_codes_pages_and_lines_and_gates(site, monkeypatch):
    result = invoke(monkeypatch, "check", site, "--json")
    assert result.exit_code == 1
    found = [(f["page"].rsplit("/", 1)[-1], f["line"], f["severity"], f["codes"]) for f in json.loads(result.stdout)]
    assert found == [
        ("index.html", 2, "suspicious", ["file-name"]),
        ("index.html", 3, "suspicious", ["placeholder"]),
        ("index.html", 4, "suspicious", ["placeholder"]),
        ("index.html", 5, "suspicious", ["click"]),
        ("index.html", 6, "suspicious", ["redundant"]),
        ("index.html", 8, "review", ["awaiting-review"]),
        ("index.html", 10, "missing", ["missing-alt"]),
        ("index.html", 12, "suspicious", ["duplicate"]),  # "Our logo." names j.png and k.png
        ("other.html", 1, "suspicious", ["duplicate"]),
        ("other.html", 1, "suspicious", ["duplicate"]),
    ]
    lines = invoke(monkeypatch, "check", site).stdout.splitlines()
    assert lines[0] == f"{site / 'index.html'}:2: a.png: suspicious alt “IMG_0436.jpg”: alt is a file name"
    assert "alt repeats the text beside it" in lines[4]
    assert "(missing 1, review 1, suspicious 8)" in invoke(monkeypatch, "check", site).stderr
    assert invoke(monkeypatch, "check", site, "--fail-on", "missing,review").exit_code == 1
    reviewed = PAGE.replace("<img src=h.png>", "").replace(' data-alt-generated="alttext review"', "")
    (site / "index.html").write_text(reviewed)
    assert invoke(monkeypatch, "check", site, "--fail-on", "missing,review").exit_code == 0
    assert invoke(monkeypatch, "check", site, "--fail-on", "").exit_code == 0
    assert invoke(monkeypatch, "check", site).exit_code == 1
    wrong = invoke(monkeypatch, "check", site, "--fail-on", "missing,typos")
    assert wrong.exit_code == 2 and "typos" in wrong.output


def test_fill_overwrite_suspicious_replaces_only_what_says_nothing(site, tmp_path, monkeypatch):
    result = invoke(monkeypatch, "fill", site, "--overwrite-suspicious", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    page = (site / "index.html").read_text()
    def caption(name):
        return caption_of(PICTURES[name])

    assert f'<p><img src=a.png alt="{caption("a")}" data-alt-generated="alttext"></p>' in page
    assert f'<img src=b.png alt="{caption("b")}" data-alt-generated="alttext">' in page
    assert f'<img src=c.png alt="{caption("c")}" data-alt-generated="alttext">' in page
    assert f'<img src=d.png alt="{caption("d")}" data-alt-generated="alttext review">' in page  # a link's only
    for kept in ('alt="Home">Home', 'alt="The team at the 2026 meetup."', '<img src=i.png alt="">',
                 '<img src=j.png alt="Our logo.">'):
        assert kept in page
    replaced = [r["reason"] for r in json.loads((tmp_path / "r.json").read_text())
                if r["reason"] and "suspicious alt replaced" in r["reason"]]
    assert replaced[0] == "suspicious alt replaced (file-name: 'IMG_0436.jpg')" and len(replaced) == 4


def test_fill_writes_empty_alt_where_its_alt_would_repeat_the_text_beside_it(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    for name in "abcde":
        (site / f"{name}.png").write_bytes(PICTURES[name])
    decided = {hashlib.sha256(PICTURES["c"]).hexdigest(): {"alt": "Acme"}}
    (site / ".alttext.json").write_text(json.dumps({"images": decided, "version": 1}))
    page = (f'<p><img src=a.png> {caption_of(PICTURES["a"])}</p>\n'
            f'<figure><img src=b.png><figcaption>{caption_of(PICTURES["b"]).upper()}</figcaption></figure>\n'
            '<ul><li><img src=c.png> Acme</li></ul>\n'
            f'<a href=/><img src=d.png>{caption_of(PICTURES["d"])}</a>\n'
            '<p><img src=e.png> Something else.</p>\n')
    (site / "index.html").write_text(page)
    result = invoke(monkeypatch, "fill", site, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    empty = ' alt="" data-alt-generated="alttext">'
    assert (site / "index.html").read_text() == page.replace("a.png>", "a.png" + empty).replace(
        "b.png>", "b.png" + empty).replace("c.png>", "c.png" + empty).replace("d.png>", "d.png" + empty).replace(
        "e.png>", f'e.png alt="{caption_of(PICTURES["e"])}" data-alt-generated="alttext">')
    reasons = [r["reason"] for r in json.loads((tmp_path / "r.json").read_text())]
    assert [REPEATS in reason for reason in reasons] == [True, True, True, False, False]
    assert "its <a> already has text" in reasons[3]


def test_check_finds_empty_links_and_alt_that_repeats_a_figure_caption(tmp_path, monkeypatch):
    (tmp_path / "index.html").write_text(
        '<a href=/><img src=a.png alt=""></a>\n'
        '<a href=/ title="Home"><img src=b.png alt=""></a>\n'
        '<button><img src=c.png alt=""></button>\n'
        '<a href=/><img src=d.png alt=""> Home</a>\n'
        '<figure><img src=e.png alt="Sales by month"><figcaption>Sales by month.</figcaption></figure>\n'
        '<a href=/ aria-hidden=true><img src=f.png alt=""></a>\n')
    result = invoke(monkeypatch, "check", tmp_path, "--json")
    found = [(f["source"], f["codes"]) for f in json.loads(result.stdout)]
    assert found == [("a.png", ["empty-link"]), ("c.png", ["empty-link"]), ("e.png", ["redundant"])]
