"""Page context that may say what a picture shows or does (its figure's caption, its title, a meaningful
file name, where its link goes): offered to people as suggestions in the reports, never written as alt by
itself."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from alttext import suspicious
from alttext.scan import Image

_WORDS = re.compile(r"[^\W\d_]{2,}")  # letters only: sizes, dates and hashes say nothing


def suggestions(image: Image) -> list[str]:
    found = [" ".join(image.figcaption.split()), " ".join(image.title.split()), file_name_words(image.source),
             link_words(image.link)]
    return list(dict.fromkeys(text for text in found if text))


def file_name_words(source: str) -> str:
    """"team-photo_2026@2x.jpg" → "Team photo"; "" when the name says nothing (IMG_0436.jpg, logo.png)."""
    if source[:5].lower() == "data:":
        return ""
    name = unquote(re.split(r"[?#]", source, maxsplit=1)[0]).rsplit("/", 1)[-1]
    if suspicious.codes(name.rsplit(".", 1)[0]):
        return ""
    words = _WORDS.findall(name.rsplit(".", 1)[0])
    text = " ".join(words).lower()
    if not words or suspicious.codes(text) or (len(words) == 1 and len(text) < 4):
        return ""
    return text[0].upper() + text[1:]


_INDEX = re.compile(r"(?:index|default)\.\w+", re.IGNORECASE)


def link_words(href: str) -> str:
    """Where a link goes, as words: "/about/contact.html" → "Contact", "/blog/" → "Blog", "/" → "Home",
    "https://www.example.org/" → "example.org"; "" for a fragment, mailto:, javascript: or a name that
    says nothing."""
    if not href or href.startswith("#"):
        return ""
    parts = urlsplit(href)
    if parts.scheme.lower() not in ("", "http", "https"):
        return ""
    segments = [s for s in unquote(parts.path).split("/") if s and s != "."]
    if segments and _INDEX.fullmatch(segments[-1]):
        segments.pop()
    if segments:
        return file_name_words(segments[-1])
    host = (parts.hostname or "").removeprefix("www.")
    return host or "Home"
