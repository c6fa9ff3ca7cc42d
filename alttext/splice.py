"""Alt text → new attributes spliced into the page's original bytes, and nothing else changed."""

from __future__ import annotations

from dataclasses import dataclass

from alttext.scan import GENERATED, Image, Page

MARKER = (GENERATED, "alttext")
REVIEW_STATE = "review"  # added to the marker's value while a person has yet to review the alt


@dataclass(frozen=True)
class Edit:
    start: int  # byte span of the original to replace (empty for an insertion)
    end: int
    data: bytes


def escape(text: str) -> str:
    """Text → an attribute value that can sit between double quotes."""
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def alt_edit(page: Page, image: Image, alt: str, marker: tuple[str, str] | None = MARKER) -> Edit:
    """The edit that gives `image` this alt text (and the marker, unless it has one already)."""
    attributes = f'alt="{escape(alt)}"'
    if marker is not None and marker[0].lower() not in image.attributes:
        attributes += f' {marker[0]}="{escape(marker[1])}"'
    if image.alt_span is not None:
        start, end = image.alt_span
        return Edit(start, end, page.encode(attributes))
    return Edit(image.insert_at, image.insert_at, page.encode(" " + attributes))


def review_marker(marker: tuple[str, str] | None) -> tuple[str, str] | None:
    """The marker for an alt that awaits a person's review: `data-alt-generated="alttext review"`."""
    return None if marker is None else (marker[0], f"{marker[1]} {REVIEW_STATE}")


def apply(data: bytes, edits: list[Edit]) -> bytes:
    """The bytes with every edit made; edits must not overlap."""
    pieces, pos = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.start < pos:
            raise ValueError(f"overlapping edits at byte {edit.start}")
        pieces += [data[pos : edit.start], edit.data]
        pos = edit.end
    pieces.append(data[pos:])
    return b"".join(pieces)
