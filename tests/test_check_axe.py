"""`check` against the tools people audit with: real axe-core (image-redundant-alt, link-name, button-name)
in real Chromium on pages served from 127.0.0.1, and WebAIM WAVE's documented rules for "suspicious",
"redundant" and "long" alternative text (WAVE itself is an online service: its rules are the cases here).
Every image axe flags, and every case a WAVE rule describes, must be flagged by `check` with the code that
says why; the images that should pass must pass both."""

import json

import pytest
from browser import axe_script, axe_violations
from httpserver import serve
from typer.testing import CliRunner

from alttext.cli import app

AXE_RULES = ["image-redundant-alt", "link-name", "button-name"]

# (markup with one image, src == its id; what axe says; what check must say (None: nothing))
REDUNDANT = [
    ('<a href="/home"><img src="r1.png" alt="Home">Home</a>', "image-redundant-alt", "redundant"),
    ('<button><img src="r2.png" alt="Search"> Search</button>', "image-redundant-alt", "redundant"),
    ('<div role="button" tabindex="0"><img src="r3.png" alt="Close"> Close</div>', "image-redundant-alt", "redundant"),
    ('<p><img src="r4.png" alt="Acme Corporation"> Acme Corporation</p>', "image-redundant-alt", "redundant"),
    ('<ul><li><img src="r5.png" alt="Downloads"> downloads</li></ul>', "image-redundant-alt", "redundant"),
    ('<table><tr><td><img src="r6.png" alt="Total"> Total</td></tr></table>', "image-redundant-alt", "redundant"),
    ('<table><tr><th><img src="r7.png" alt="Name">Name</th></tr></table>', "image-redundant-alt", "redundant"),
    ('<p><img src="r8.png" alt="Our  team">\n  Our team </p>', "image-redundant-alt", "redundant"),
    # WAVE's "redundant alternative text" (nearby text), where axe is stricter
    ('<p><img src="r9.png" alt="Home."> Home</p>', None, "redundant"),
    ('<figure><img src="r10.png" alt="Sales by month"><figcaption>Sales by month</figcaption></figure>', None,
     "redundant"),
    # not redundant
    ('<p><img src="n1.png" alt="A red bicycle against a wall."> Bikes for rent.</p>', None, None),
    ('<a href="/"><img src="n2.png" alt="Home page"> Home</a>', None, None),
    ('<a href="/shop">Shop</a> <img src="n3.png" alt="Shop">', None, None),  # outside the link: neither looks
]
EMPTY_LINKS = [
    ('<a href="/contact"><img src="e1.png" alt=""></a>', "link-name", "empty-link"),
    ('<button><img src="e2.png" alt=""></button>', "button-name", "empty-link"),
    ('<a href="/jobs"><img src="e3.png" alt=""><img src="e4.png" alt=""></a>', "link-name", "empty-link"),
    ('<a href="/contact" title="Contact us"><img src="n4.png" alt=""></a>', None, None),
    ('<a href="/help" aria-label="Help"><img src="n5.png" alt=""></a>', None, None),
    ('<a href="/"><img src="n6.png" alt=""> Home</a>', None, None),
    ('<span id="l7">Blog</span><a href="/blog" aria-labelledby="l7"><img src="n7.png" alt=""></a>', None, None),
]
WAVE_WORDS = ("image graphic photo photograph drawing painting artwork logo bullet button arrow more spacer "
              "blank chart table diagram graph *").split()
WAVE = [  # WAVE's "suspicious alternative text" and "long alternative text", rule by rule
    *[(f'<img src="w-{n}.png" alt="{word}">', None, "placeholder") for n, word in enumerate(WAVE_WORDS)],
    ('<img src="w-name1.png" alt="IMG_0436.jpg">', None, "file-name"),
    ('<img src="w-name2.png" alt="photo.gif">', None, "file-name"),
    ('<img src="w-of1.png" alt="Image of a dog in the snow.">', None, "image-of"),
    ('<img src="w-of2.png" alt="Graphic of sales by month">', None, "image-of"),
    ('<img src="w-end1.png" alt="Company logo image">', None, "image-of"),
    ('<img src="w-end2.png" alt="Header graphic">', None, "image-of"),
    ('<img src="w-bullet.png" alt="Bullet point">', None, "placeholder"),
    (f'<img src="w-long.png" alt="{"A long description of a chart, " * 4}ending here.">', None, "long"),
    ('<img src="g1.png" alt="The team at the 2026 meetup in Lyon.">', None, None),
    ('<img src="g2.png" alt="Q3 sales rose 12% over Q2.">', None, None),
    ('<img src="g3.png" alt="A photographer at work on a beach.">', None, None),
    ('<img src="g4.png" alt="More than 200 people at the opening.">', None, None),
]
PAGES = {"redundant.html": REDUNDANT, "links.html": EMPTY_LINKS, "wave.html": WAVE}


def page_html(cases) -> bytes:
    body = "\n".join(markup for markup, _, _ in cases)
    return f'<!DOCTYPE html><html lang="en"><title>cases</title><main>\n{body}\n</main></html>\n'.encode()


def sources(markup: str) -> list[str]:
    return [part.split('"', 1)[0] for part in markup.split('src="')[1:]]


def axe_findings(chromium) -> dict[str, str]:
    """src → the axe rule that flags it (an image inside a flagged link or button counts for the link)."""
    found = {}
    routes = {f"/{name}": (200, "text/html; charset=utf-8", page_html(cases)) for name, cases in PAGES.items()}
    with serve(routes) as url:
        tab = chromium.new_page()
        for name in PAGES:
            tab.goto(f"{url}/{name}")
            for rule, targets in axe_violations(tab, AXE_RULES):
                images = tab.evaluate("targets => targets.flatMap(t => { const e = document.querySelector(t);"
                                      "return e.matches('img') ? [e] : [...e.querySelectorAll('img')]; })"
                                      ".map(e => e.getAttribute('src'))", targets)
                found.update(dict.fromkeys(images, rule))
        tab.close()
    return found


def check_findings(tmp_path) -> dict[str, list[str]]:
    for name, cases in PAGES.items():
        (tmp_path / name).write_bytes(page_html(cases))
    result = CliRunner().invoke(app, ["check", str(tmp_path), "--json", "--fail-on", ""])
    assert result.exit_code == 0, result.output
    return {f["source"]: f["codes"] for f in json.loads(result.stdout)}


def test_check_flags_every_image_axe_and_waves_rules_flag(tmp_path, chromium):
    if axe_script() is None:
        pytest.skip("axe-core is not installed (axe-playwright-python, the dev extra)")
    axe, check = axe_findings(chromium), check_findings(tmp_path)
    cases = [(src, rule, code) for found in PAGES.values() for markup, rule, code in found for src in sources(markup)]
    assert axe == {src: rule for src, rule, _ in cases if rule}  # the cases say what axe says
    assert {src: code for src, _, code in cases if code} == {src: codes[0] for src, codes in check.items()}
    by_axe = [src for src, rule, _ in cases if rule]
    assert len(by_axe) == 12 and all(src in check for src in by_axe)  # the figures in the README
    assert len([c for c in cases if c[2] and not c[1]]) == 29 and len([c for c in cases if not c[2]]) == 11
