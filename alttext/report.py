"""What a run did, for people: progress, the summary, --report JSON (the --review page: review_page.py)."""

from __future__ import annotations

import base64
import io
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from alttext.errors import SourceError
from alttext.images import open_image

# What happened to one image.
FILLED = "filled"  # alt written
FOR_REVIEW = "review"  # a person should look: alt may or may not have been written
SKIPPED = "skipped"  # needed alt, none written: the reason says why
KEPT = "kept"  # needed nothing: it has alt, is decorative, hidden or named
THUMBNAIL_SIDE = 160


@dataclass
class Record:
    page: str
    line: int
    source: str
    action: str
    alt: str | None = None  # the text written, or None when nothing was
    confidence: float | None = None
    reason: str | None = None
    kind: str | None = None
    origin: str | None = None  # where the alt came from: "model", "decision" (the site's file), "reused"
    suggestions: list[str] | None = None  # page context that may say what it shows (hints.py)
    picture: str | None = None  # the SHA-256 of the image's bytes, when they were read
    thumbnail: str | None = None  # data: URI, for the review page only

    def as_json(self) -> dict:
        record = asdict(self)
        del record["thumbnail"]
        return record


def short(source: str, limit: int = 80) -> str:
    """A source as shown to people: data: URLs cut down."""
    return source if len(source) <= limit else source[: limit - 1] + "…"


def summary(records: list[Record], pages: int, failed: int) -> str:
    actions = Counter(r.action for r in records)
    needing = actions[FILLED] + actions[FOR_REVIEW] + actions[SKIPPED]
    lines = [
        f"pages scanned: {pages}" + (f" ({failed} could not be processed)" if failed else ""),
        f"images: {len(records)}, needing alt: {needing}",
        f"  filled: {actions[FILLED]}",
        f"  flagged for review: {actions[FOR_REVIEW]}",
        f"  skipped: {actions[SKIPPED]}",
        f"  kept as they were: {actions[KEPT]}",
    ]
    origins = Counter(r.origin for r in records if r.action != SKIPPED)
    for origin, words in (("decision", "from the site's decisions"), ("reused", "reused from the site's pages")):
        if origins[origin]:
            lines.append(f"  {words}: {origins[origin]}")
    kinds = Counter(r.kind for r in records if r.kind)
    if kinds:
        lines.append("  kinds: " + ", ".join(f"{kind} {count}" for kind, count in kinds.most_common()))
    reasons = Counter((r.action, r.reason) for r in records if r.action in (FOR_REVIEW, SKIPPED))
    for (action, reason), count in sorted(reasons.items(), key=lambda item: -item[1]):
        lines.append(f"    {count} {action}: {reason}")
    return "\n".join(lines)


def write_json(path: Path, records: list[Record]) -> None:
    text = json.dumps([r.as_json() for r in records], indent=1, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def thumbnail(data: bytes) -> str | None:
    """A small JPEG of the image as a data: URI, or None when it cannot be decoded."""
    try:
        image = open_image(data, "thumbnail")
    except SourceError:
        return None
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Progress:
    """Pages and images done: a bar redrawn in place on a terminal, else a plain line now and then."""

    def __init__(self, stream: TextIO | None = None, total: int | None = None, every_s: float = 5.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = total
        self.every_s = every_s
        self.pages = 0
        self.images = 0
        self.shown_at = time.monotonic()

    def advance(self, pages: int, images: int) -> None:
        self.pages += pages
        self.images += images
        if self.tty:
            self.stream.write(f"\r{self.bar()}{self.status()}\033[K")
            self.stream.flush()
        elif time.monotonic() - self.shown_at >= self.every_s:
            self.line(self.status())

    def status(self) -> str:
        of = f"/{self.total}" if self.total else ""
        return f"pages {self.pages}{of}, images {self.images}"

    def bar(self) -> str:
        if not self.total:
            return ""
        filled = round(30 * self.pages / self.total)
        return "[" + "#" * filled + "." * (30 - filled) + "] "

    def line(self, text: str) -> None:
        if self.tty and self.pages:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.shown_at = time.monotonic()

    def done(self) -> None:
        if self.pages:
            self.line(self.status())
