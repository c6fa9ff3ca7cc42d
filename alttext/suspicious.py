"""Alt text a person wrote that says nothing: the rules, apart from parsing.

The codes follow WebAIM WAVE's alerts "suspicious alternative text" (a file name; one of its placeholder
words; begins with "image of", "graphic of" or "bullet"; ends with "image" or "graphic"), "redundant
alternative text" and "long alternative text" (over 100 characters), and axe-core's
`image-redundant-alt` (the alt is the text of the link, button, paragraph, list item or cell around it).
`duplicate` (the same alt on different pictures) is decided by the caller, who sees the whole page or
site; `empty-link` (alt="" on a link's only content) by check.py, which sees where the image is.
"""

from __future__ import annotations

import re

FILE_NAME = "file-name"  # "IMG_0436.jpg"
PLACEHOLDER = "placeholder"  # "image", "photo", "spacer", "*"
IMAGE_OF = "image-of"  # "Image of a dog", "Company logo graphic"
CLICK = "click"  # "Click for larger image."
LONG = "long"  # over LONG_CHARACTERS
REDUNDANT = "redundant"  # repeats the text of its link, button, paragraph, cell or figure caption
DUPLICATE = "duplicate"  # the same alt on different pictures
EMPTY_LINK = "empty-link"  # alt="" on a link's or button's only content: it then has no name
REPLACEABLE = (FILE_NAME, PLACEHOLDER, CLICK)  # codes --overwrite-suspicious replaces with a caption
LONG_CHARACTERS = 100  # WAVE's "long alternative text"

_FILE_NAME = re.compile(r".*\.(?:jpe?g|png|gif|webp|svg|bmp|tiff?|avif|heic)", re.IGNORECASE)
_CAMERA_NAME = re.compile(r"(?:img|dsc|dscn|dcim|pxl|mvc|p)[_-]?\d{3,}(?:[_-]\d+)*", re.IGNORECASE)
_PLACEHOLDERS = frozenset(
    "image img picture pic photo photograph graphic icon logo spacer blank alt alttext description "
    "untitled placeholder thumbnail thumb banner button bullet drawing painting artwork arrow more chart "
    "table diagram graph".split()
) | {"alt text", "image description", "no description"}
_IMAGE_OF = re.compile(r"^(?:an? )?(?:image|graphic|picture|photo|photograph) of\b|\b(?:image|graphic)$", re.IGNORECASE)
_BULLET = re.compile(r"^bullet\b", re.IGNORECASE)
_CLICK = re.compile(r"^(?:click|tap)\b|\b(?:click|tap) (?:here|for|to)\b", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[\W_]+")


def codes(alt: str, nearby: tuple[str, ...] = ()) -> list[str]:
    """Why a person's non-empty alt is suspicious, most telling first; [] when it looks meant. `nearby`:
    the texts it must not repeat (its link's, paragraph's or cell's text; its figure's caption)."""
    text = " ".join(alt.split())
    found = []
    if _FILE_NAME.fullmatch(text) or _CAMERA_NAME.fullmatch(text):
        found.append(FILE_NAME)
    if text.lower().rstrip(".") in _PLACEHOLDERS or not _PUNCTUATION.sub("", text) or _BULLET.search(text):
        found.append(PLACEHOLDER)
    if _CLICK.search(text):
        found.append(CLICK)
    if not found and _IMAGE_OF.search(text.rstrip(".")):
        found.append(IMAGE_OF)
    if len(text) > LONG_CHARACTERS:
        found.append(LONG)
    if repeats(text, nearby):
        found.append(REDUNDANT)
    return found


def repeats(alt: str, nearby: tuple[str, ...]) -> bool:
    """Whether the alt says what one of the texts beside it says (case, spaces and punctuation aside)."""
    return any(text.strip() and _plain(alt) == _plain(text) for text in nearby)


def _plain(text: str) -> str:
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def describe(code: str) -> str:
    """A code, for people."""
    return {
        FILE_NAME: "alt is a file name",
        PLACEHOLDER: "alt is a placeholder word, not a description",
        IMAGE_OF: "alt says it is an image (“image of…”): the screen reader already says so",
        CLICK: "alt gives an instruction, not a description",
        LONG: f"alt is longer than {LONG_CHARACTERS} characters: put the detail in the page",
        REDUNDANT: "alt repeats the text beside it (axe image-redundant-alt): it should be empty",
        DUPLICATE: "the same alt is on different pictures",
        EMPTY_LINK: 'alt="" on the only content of a link or button: it has no name (WCAG 2.4.4, axe link-name)',
    }[code]
