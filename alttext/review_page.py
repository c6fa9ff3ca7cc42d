"""The static `fill --review` page: each distinct picture once (by the SHA-256 of its bytes), with one
thumbnail, what was written for it on the pages that show it, why, and relative links to those pages.
Its size grows with the distinct pictures; each more page that shows one adds a link, not a thumbnail."""

from __future__ import annotations

import html
import os
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from alttext.fetch import is_url
from alttext.report import FILLED, FOR_REVIEW, KEPT, SKIPPED, THUMBNAIL_SIDE, Record, short

URGENCY = {FOR_REVIEW: 0, SKIPPED: 1, FILLED: 2}  # the pictures that need a person first
STATUS = {FOR_REVIEW: "needs a person", SKIPPED: "no alt written", FILLED: "filled"}
ORIGINS = {"decision": "a person's decision in the site's decisions file",
           "reused": "a person's alt for the same picture on another page", "model": "the model"}
PAGES_OPEN = 5  # more pages than this are folded under a summary line


def write_review(path: Path, records: list[Record]) -> None:
    pictures = group(records)
    links = Links(path.parent, [r.page for r in records])
    counts = Counter(status(p) for p in pictures)
    body = "\n".join(render_picture(n, p, links) for n, p in enumerate(pictures, 1))
    page = TEMPLATE.format(
        side=THUMBNAIL_SIDE, pictures=len(pictures), pages=len({r.page for r in records}),
        review=counts[FOR_REVIEW], skipped=counts[SKIPPED], filled=counts[FILLED],
        body=body or '<tbody><tr><td colspan="5">No image needed alt text.</td></tr></tbody>')
    path.write_text(page, encoding="utf-8")


def group(records: list[Record]) -> list[list[Record]]:
    """The records that did something, one list per picture (its bytes' digest; else its source, for a
    picture that was never read), the pictures that need a person first, then in page order."""
    found: dict[str, list[Record]] = {}
    for record in records:
        if record.action != KEPT:
            found.setdefault(record.picture or "source " + record.source, []).append(record)
    return sorted(found.values(), key=lambda picture: URGENCY[status(picture)])


def status(picture: list[Record]) -> str:
    return min((r.action for r in picture), key=URGENCY.__getitem__)


class Links:
    """Each page as a link relative to the review page, and as shown: relative to the pages' common folder."""

    def __init__(self, folder: Path, pages: list[str]):
        self.folder = folder.resolve()
        local = [str(Path(page).resolve()) for page in dict.fromkeys(pages) if not is_url(page)]
        self.common = os.path.commonpath(local) if len(local) > 1 else os.path.dirname(local[0]) if local else ""

    def href(self, page: str) -> str:
        if is_url(page):
            return page
        return quote(Path(os.path.relpath(Path(page).resolve(), self.folder)).as_posix())

    def shown(self, page: str) -> str:
        return page if is_url(page) else os.path.relpath(Path(page).resolve(), self.common)


def render_picture(n: int, picture: list[Record], links: Links) -> str:
    """One <tbody>: the picture's cell, spanning one row per distinct outcome (status, alt, why)."""
    outcomes: dict[tuple, list[Record]] = {}
    for record in picture:
        outcomes.setdefault((record.action, record.alt, record.reason, record.origin), []).append(record)
    ordered = sorted(outcomes.values(), key=lambda records: URGENCY[records[0].action])
    head = f'<th scope="rowgroup" rowspan="{len(ordered)}">{picture_cell(n, picture)}</th>'
    rows = [f'<tr class="{records[0].action}">{head if i == 0 else ""}{outcome_cells(records, links)}</tr>'
            for i, records in enumerate(ordered)]
    return f'<tbody id="p{n}">\n' + "\n".join(rows) + "\n</tbody>"


def picture_cell(n: int, picture: list[Record]) -> str:
    e = html.escape
    first = picture[0]
    thumb = next((r.thumbnail for r in picture if r.thumbnail), None)
    shown = f'<img src="{e(thumb)}" alt="">' if thumb else "<span>(no preview)</span>"
    kinds = ", ".join(dict.fromkeys(r.kind for r in picture if r.kind))
    offered = list(dict.fromkeys(s for r in picture for s in r.suggestions or []))
    parts = [f"<span class=\"name\">Picture {n}</span>", shown, f"<code>{e(short(first.source))}</code>"]
    if kinds:
        parts.append(f"Kind: {e(kinds)}")
    if offered:
        parts.append("Suggestions from its pages: " + "; ".join(f"“{e(s)}”" for s in offered))
    return "<br>".join(parts)


def outcome_cells(records: list[Record], links: Links) -> str:
    e = html.escape
    first = records[0]
    if first.alt is None:
        alt = "(none)"
    else:
        alt = 'alt="" (decorative)' if first.alt == "" else f"“{e(first.alt)}”"
    if first.confidence is not None:
        alt += f'<br><span class="small">confidence {first.confidence:.2f}</span>'
    why = e(first.reason or "")
    if first.origin:
        why += f'<br><span class="small">from {e(ORIGINS.get(first.origin, first.origin))}</span>'
    return (f"<td>{STATUS[first.action]}</td><td class=\"alt\">{alt}</td><td>{why}</td>"
            f"<td>{pages_cell(records, links)}</td>")


def pages_cell(records: list[Record], links: Links) -> str:
    e = html.escape
    items = "".join(f'<li><a href="{e(links.href(r.page))}">{e(links.shown(r.page))}</a> line {r.line}</li>'
                    for r in records)
    count = len({r.page for r in records})
    listed = f"<ul>{items}</ul>"
    if len(records) <= PAGES_OPEN:
        return listed
    return f"<details><summary>{count} pages, {len(records)} images</summary>{listed}</details>"


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>alttext: alt text to review</title>
<style>
body {{ font: 16px/1.45 system-ui, sans-serif; margin: 1rem; color: #1f2328; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
td, th {{ border: 1px solid #8c959f; padding: .4rem; text-align: left; vertical-align: top; overflow-wrap: anywhere;
  }}
tbody th {{ font-weight: normal; background: #fff; }}
col.picture {{ width: 13rem; }} col.status {{ width: 8rem; }} col.alt {{ width: 30%; }} col.pages {{ width: 24%; }}
.name, dt {{ font-weight: bold; }}
.small {{ font-size: .875rem; }}
ul {{ margin: 0; padding-left: 1.1rem; }}
.review, .swatch.review {{ background: #fff3c4; }}
.skipped, .swatch.skipped {{ background: #fde2e1; }}
.swatch {{ display: inline-block; border: 1px solid #8c959f; padding: 0 .4rem; }}
img {{ max-width: {side}px; max-height: {side}px; display: block; margin: .25rem 0; }}
</style>
</head>
<body>
<main>
<h1>Alt text to review</h1>
<p>{pictures} distinct pictures on {pages} pages needed alt text: {review} need a person, {skipped} got
none, {filled} were filled. Each picture is listed once, however many pages show it; the pictures that
need a person come first.</p>
<h2>How to read this page</h2>
<dl>
<dt>Picture</dt><dd>The picture (one thumbnail), its file, the kind of picture the model saw, and
suggestions found on its pages: a figure's caption, a title, a meaningful file name, a link's target.</dd>
<dt>Status</dt><dd>“needs a person”: alt text was written and marked for review, or none could be
written by rule (only a person can say what a link or map region does); “no alt written”: the picture
could not be read or the model failed; “filled”: alt text was written and nothing asks for a
person.</dd>
<dt>Alt text written</dt><dd>What now stands in the pages: the machine's guess, a person's decision
or an alt reused from another page; <code>alt=""</code> marks it decorative. The confidence (0 to 1)
is the model's.</dd>
<dt>Why</dt><dd>Why the rules chose this, and where the text came from.</dd>
<dt>Pages</dt><dd>Every page that shows the picture with this outcome, linked, with the line of the
image. A picture whose pages differ (a link on one, plain on another) has one row per outcome.</dd>
<dt>Colours</dt><dd><span class="swatch review">yellow</span> rows need a person;
<span class="swatch skipped">red</span> rows got no alt text; rows without colour were filled. The
Status column says the same in words.</dd>
</dl>
<table>
<caption>Pictures and what was written for them</caption>
<colgroup><col class="picture"><col class="status"><col class="alt"><col><col class="pages"></colgroup>
<thead><tr><th scope="col">Picture</th><th scope="col">Status</th><th scope="col">Alt text written</th>
<th scope="col">Why</th><th scope="col">Pages</th></tr></thead>
{body}
</table>
</main>
</body>
</html>
"""
