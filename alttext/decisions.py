"""The site's memory of a person's decisions: one JSON file, keyed by each picture's SHA-256.

    {
      "images": {
        "<sha256 of the image bytes>": {"alt": "The team at the 2026 meetup.", "note": "...", "date": "2026-12-01"},
        "<sha256>": {"decorative": true}
      },
      "version": 1
    }

`fill` applies it before any model runs, on every page that shows the picture; it never writes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from alttext.errors import AltTextError

DEFAULT_NAME = ".alttext.json"  # at the site root
VERSION = 1
DIGEST = re.compile(r"[0-9a-f]{64}")
ENTRY_KEYS = {"alt", "decorative", "note", "date"}


class DecisionsError(AltTextError):
    """The decisions file cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class Answer:
    """What the site already says for a picture, before any model runs."""

    alt: str | None  # the alt to write ("" for decorative); None: the model runs, and a person reviews
    review: bool  # a person should look at it
    reason: str
    origin: str  # "decision" or "reused"


class Decisions:
    def __init__(self, path: Path | None = None, entries: dict[str, dict] | None = None):
        self.path = path
        self.entries = entries or {}

    def answer(self, digest: str) -> Answer | None:
        entry = self.entries.get(digest)
        if entry is None:
            return None
        alt = "" if entry.get("decorative") else entry["alt"]
        return Answer(alt, False, f"a person's decision in {self.path}", "decision")


def load(path: Path, required: bool) -> Decisions:
    """The decisions in `path`; none when it is missing and not `required` (the default file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise DecisionsError(f"{path}: no such decisions file") from None
        return Decisions(path)
    except (OSError, UnicodeDecodeError) as error:
        raise DecisionsError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise DecisionsError(f"{path}: not JSON ({error})") from None
    return Decisions(path, _entries(path, document))


def _entries(path: Path, document) -> dict[str, dict]:
    if not isinstance(document, dict) or not isinstance(document.get("images", {}), dict):
        raise DecisionsError(f'{path}: expected an object with an "images" object')
    if document.get("version", VERSION) != VERSION:
        raise DecisionsError(f"{path}: version {document['version']!r} is not {VERSION}")
    entries = document.get("images", {})
    for digest, entry in entries.items():
        problem = _entry_problem(digest, entry)
        if problem:
            raise DecisionsError(f"{path}: images[{digest!r}]: {problem}")
    return entries


def _entry_problem(digest: str, entry) -> str | None:
    if not DIGEST.fullmatch(digest):
        return "the key is not a lower-case SHA-256 in hex"
    if not isinstance(entry, dict) or set(entry) - ENTRY_KEYS:
        return f"expected an object with only {', '.join(sorted(ENTRY_KEYS))}"
    if entry.get("decorative") is True:
        return None if "alt" not in entry else 'both "alt" and "decorative"'
    alt = entry.get("alt")
    if not isinstance(alt, str) or not alt.strip():
        return 'needs a non-empty "alt" or "decorative": true'
    return None


def dumps(entries: dict[str, dict]) -> str:
    """The file's text: sorted keys, one key a line, so that a change is a small diff."""
    return json.dumps({"images": entries, "version": VERSION}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class SiteDecisions:
    """The decisions file of each site root (DEFAULT_NAME there, when it exists), or one file for all."""

    def __init__(self, roots: list[Path], given: Path | None = None):
        self.given = load(given, True) if given is not None else None
        found = [] if given is not None else [r.resolve() for r in roots]
        self.by_root = {root: load(root / DEFAULT_NAME, False) for root in found}

    def answer(self, root: Path | None, digest: str) -> Answer | None:
        decisions = self.given or (self.by_root.get(root.resolve()) if root is not None else None)
        return decisions.answer(digest) if decisions is not None else None
