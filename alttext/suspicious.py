"""Alt text a person wrote that says nothing: the rules, apart from parsing.

The codes follow WebAIM WAVE's "suspicious alternative text" and "redundant alternative text" and
axe-core's `image-redundant-alt`; `duplicate` (the same alt on different pictures) is decided by the
caller, who sees the whole page or site.
"""

from __future__ import annotations

import re

FILE_NAME = "file-name"  # "IMG_0436.jpg"
PLACEHOLDER = "placeholder"  # "image", "photo", "spacer", "*"
CLICK = "click"  # "Click for larger image."
REDUNDANT = "redundant"  # repeats the text of its link, button, paragraph or cell
DUPLICATE = "duplicate"  # the same alt on different pictures
REPLACEABLE = (FILE_NAME, PLACEHOLDER, CLICK)  # codes --overwrite-suspicious replaces with a caption

_FILE_NAME = re.compile(r"\S+\.(?:jpe?g|png|gif|webp|svg|bmp|tiff?|avif|heic)", re.IGNORECASE)
_CAMERA_NAME = re.compile(r"(?:img|dsc|dscn|dcim|pxl|mvc|p)[_-]?\d{3,}(?:[_-]\d+)*", re.IGNORECASE)
_PLACEHOLDERS = frozenset(
    "image img picture pic photo photograph graphic icon logo spacer blank alt alttext description "
    "untitled placeholder thumbnail thumb banner button bullet".split()
) | {"alt text", "image description", "no description"}
_CLICK = re.compile(r"^(?:click|tap)\b|\b(?:click|tap) (?:here|for|to)\b", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[\W_]+")


def codes(alt: str, nearby_text: str = "") -> list[str]:
    """Why a person's non-empty alt is suspicious, most telling first; [] when it looks meant."""
    text = " ".join(alt.split())
    found = []
    if _FILE_NAME.fullmatch(text) or _CAMERA_NAME.fullmatch(text):
        found.append(FILE_NAME)
    if text.lower().rstrip(".") in _PLACEHOLDERS or not _PUNCTUATION.sub("", text):
        found.append(PLACEHOLDER)
    if _CLICK.search(text):
        found.append(CLICK)
    if nearby_text and _plain(text) == _plain(nearby_text):
        found.append(REDUNDANT)
    return found


def _plain(text: str) -> str:
    return _PUNCTUATION.sub(" ", text.lower()).strip()


def describe(code: str) -> str:
    """A code, for people."""
    return {
        FILE_NAME: "alt is a file name",
        PLACEHOLDER: "alt is a placeholder word, not a description",
        CLICK: "alt gives an instruction, not a description",
        REDUNDANT: "alt repeats the text beside it (axe image-redundant-alt): it should be empty",
        DUPLICATE: "the same alt is on different pictures",
    }[code]
