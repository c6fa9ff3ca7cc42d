"""A person's alt text already in the site → the same picture (same bytes) on the site's other pages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from alttext import suspicious
from alttext.decisions import Answer
from alttext.scan import ALONE, DECORATIVE, FILL, HAS_ALT, KEEP, REVIEW, Image

_ALT = re.compile(rb"alt\s*=", re.I)


def may_hold_human_alt(data: bytes) -> bool:
    """Whether a page's bytes may hold an alt someone wrote, so that the first pass need not parse the
    pages that cannot (no "alt=" anywhere). UTF-16 pages, whose bytes hide the text, are parsed."""
    return b"\x00" in data[:1024] or _ALT.search(data) is not None


@dataclass(frozen=True)
class Written:
    """A person's alt on one page."""

    alt: str
    page: str
    line: int
    context: str


def human_alt(image: Image, marker_name: str | None) -> str | None:
    """The alt a person wrote on an <img>, when it can be reused: not machine-written, not hidden, not
    suspicious ("image", "IMG_0436.jpg"); None otherwise."""
    if image.element != "img" or image.decision != KEEP or image.alt is None:
        return None
    if marker_name is not None and marker_name.lower() in image.attributes:
        return None
    alt = " ".join(image.alt.split())
    if image.alt and not alt:  # only whitespace: not a decision
        return None
    if alt and set(suspicious.codes(alt, (image.nearby_text, image.figcaption))) - {suspicious.LONG}:
        return None
    return alt if image.reason in (HAS_ALT, DECORATIVE) else None


class SiteAlts:
    """Picture digest → the alts people wrote for it across the site."""

    def __init__(self):
        self.written: dict[str, list[Written]] = {}

    def add(self, digest: str, written: Written) -> None:
        self.written.setdefault(digest, []).append(written)

    def answer(self, digest: str, image: Image) -> Answer | None:
        """The alt to reuse for `image`, or a flag when people disagree; None when the site has nothing."""
        found = self.written.get(digest)
        if not found or image.element != "img" or image.decision not in (FILL, REVIEW):
            return None
        alts = sorted({w.alt for w in found})
        if len(alts) > 1:
            shown = "; ".join(f"{_quoted(w.alt)} ({w.page}:{w.line})" for w in found[:4])
            return Answer(None, True, f"people wrote different alt for this picture: {shown}", "disagreed")
        first = found[0]
        if not alts[0] and image.context == ALONE:  # alt="" would leave its link without a name
            return None
        reason = f"reused from {first.page}:{first.line}"
        differs = [w for w in found if w.context != image.context]
        if differs:
            reason += f"; there it is {differs[0].context}, here {image.context}"
        return Answer(alts[0], bool(differs), reason, "reused")


def _quoted(alt: str) -> str:
    return f"“{alt}”" if alt else 'alt=""'
