"""Model words -> alt text that follows the rules in README ("What good alt text looks like")."""

from __future__ import annotations

import re

MAX_CHARS = 125
_LEADING = re.compile(r"^(?:(?:a|an|the)\s+)?(?:image|picture|photo|photograph|graphic)\s+of\s+", re.I)
_TOKEN = re.compile(r"^<[^>]*>$")


def _drop_loops(words: list[str]) -> list[str]:
    """Remove immediately repeated words and phrases ("a dog a dog" -> "a dog")."""
    out: list[str] = []
    for w in words:
        out.append(w)
        for n in range(1, len(out) // 2 + 1):
            if out[-n:] == out[-2 * n : -n]:
                del out[-n:]
                break
    return out


def _shorten(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    cut = text[: MAX_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:")


def clean_caption(words: list[str]) -> str:
    """Words -> one short sentence: capitalised, ending in a period, no model tokens, no loops,
    no "image of" opening (a screen reader already says "image")."""
    words = _drop_loops([w for w in words if w and not _TOKEN.match(w)])
    text = _LEADING.sub("", " ".join(words)).strip()
    if not text:
        return ""
    text = _shorten(text.rstrip(" ."))
    return text[0].upper() + text[1:] + "."
