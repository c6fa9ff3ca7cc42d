"""The static `fill --review` page: each distinct picture once, its pages linked, every colour and column
explained, small (thumbnails once per picture), readable at 1400 px and axe-clean in real Chromium."""

import os
import re
from pathlib import Path

import pytest
from browser import axe_violations
from fake_describer import FakeDescriber
from httpserver import serve
from imagefiles import encode, gradient

from alttext import fill
from alttext.report import Progress
from alttext.review_page import write_review

pytestmark = pytest.mark.usefixtures("private_cache")

ICON = encode(gradient((24, 24)), "PNG")
PHOTOS = [encode(gradient((90 + i, 60)), "JPEG") for i in range(3)]
LONG = "missing" + "0" * 150 + ".png"  # no place to break a line


def make_site(root: Path, pages: int) -> Path:
    """`pages` pages that each show the same icon (plain, and alone in a link on page 0) and three
    photos on the first pages; one image that cannot be read, whose name has no place to break a line."""
    (root / "img").mkdir(parents=True)
    (root / "img" / "icon.png").write_bytes(ICON)
    (root / "img" / "link.png").write_bytes(ICON)
    for i, photo in enumerate(PHOTOS):
        (root / "img" / f"photo{i}.jpg").write_bytes(photo)
    for n in range(pages):
        folder = root / f"section{n % 3}"
        folder.mkdir(exist_ok=True)
        body = '<img src="/img/icon.png">\n'
        if n < len(PHOTOS):
            body += f'<p><img src="/img/photo{n}.jpg"></p>\n'
        if n == 0:
            body += f'<a href="/about/contact.html"><img src="/img/link.png"></a>\n<img src="/img/{LONG}">\n'
        (folder / f"page{n}.html").write_text(f'<!DOCTYPE html><html lang="en"><title>{n}</title>\n{body}')
    return root


def review_of(tmp_path: Path, pages: int) -> tuple[Path, str]:
    site = make_site(tmp_path / f"site{pages}", pages)
    run = fill.fill([str(site)], FakeDescriber(), fill.Options(thumbnails=True, dry_run=True),
                    Progress(stream=open(os.devnull, "w")))
    out = tmp_path / f"reports{pages}" / "review.html"
    out.parent.mkdir()
    write_review(out, run.records)
    return out, out.read_text(encoding="utf-8")


def test_each_picture_once_with_relative_links_to_its_pages(tmp_path):
    out, page = review_of(tmp_path, 40)
    assert page.count('src="data:image/jpeg;base64,') == 4  # icon (also as link.png), 3 photos
    assert page.count("<tbody") == 5  # and the unreadable one, by its source
    links = re.findall(r'<a href="([^"]+)">', page)
    assert len(links) == 40 + 1 + 3 + 1
    assert all((out.parent / link).resolve().is_file() for link in links)
    assert "../site40/section0/page0.html" in links
    # the icon's two outcomes (plain, and a link's only content) are two rows of one picture
    icon = next(body for body in page.split("<tbody")[1:] if "40 pages, 40 images" in body)
    assert icon.index("only content of its &lt;a&gt;") < icon.index("40 pages, 40 images")


def test_size_grows_with_pictures_not_with_pages(tmp_path):
    _, small = review_of(tmp_path, 10)
    _, large = review_of(tmp_path, 100)
    thumbnail = min(len(t) for t in re.findall(r'src="(data:image/jpeg;base64,[^"]+)"', small))
    per_page = (len(large.encode()) - len(small.encode())) / 90
    assert per_page < 120 < thumbnail  # a link per more page, never a thumbnail


def test_every_column_and_colour_is_explained(tmp_path):
    _, page = review_of(tmp_path, 4)
    columns = re.findall(r'<th scope="col">([^<]+)</th>', page)
    assert columns == ["Picture", "Status", "Alt text written", "Why", "Pages"]
    explained = re.findall(r"<dt>([^<]+)</dt>", page)
    assert set(columns) < set(explained) and "Colours" in explained
    for colour in set(re.findall(r'<tr class="([^"]+)"', page)) - {"filled"}:
        assert f'class="swatch {colour}"' in page


def test_readable_at_1400_px_and_axe_clean_in_chromium(tmp_path, chromium):
    _, page = review_of(tmp_path, 40)
    with serve({"/review.html": (200, "text/html; charset=utf-8", page.encode())}) as url:
        tab = chromium.new_page(viewport={"width": 1400, "height": 900})
        tab.goto(url + "/review.html")
        assert tab.evaluate("document.documentElement.scrollWidth") <= 1400
        rights = tab.evaluate("[...document.querySelectorAll('td.alt')].map(td => td.getBoundingClientRect().right)")
        assert rights and max(rights) <= 1400
        spilling = tab.evaluate("[...document.querySelectorAll('td, th')].filter(c => c.scrollWidth > c.clientWidth)"
                                ".map(c => c.textContent.slice(0, 40))")
        assert spilling == []
        assert axe_violations(tab) in ([], None)
        tab.close()
