"""What to write for each image: the single entry point that `caption`, `fill` and `serve` share.

Each image's kind (alttext/kinds.py) picks what is written: the caption, the words OCR reads, a
screenshot's label, alt="" for unmistakable decoration, or nothing and a flag for a person.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from alttext.bundle import load_bundle
from alttext.captioner import Caption, Captioner
from alttext.errors import SourceError
from alttext.images import open_image, squash
from alttext.kinds import DEFAULT_ACTIONS, UNKNOWN, Kind, KindHead, decoration_rule, image_stats, load_head
from alttext.ocr import MAX_SIDE, Reader, Reading


@dataclass
class Description:
    """What alttext decided for one image.

    action: "alt" (write `alt`), "review" (write nothing unless `alt` is set, flag for a person),
    or "error" (the image could not be used; `reason` says why). kind: what the image is
    (alttext.kinds.KINDS, or "unknown" when the bundle has no kind head); reason: the kind and why.
    """

    source: str
    action: str
    alt: str | None = None
    confidence: float | None = None
    kind: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        """The JSON record of `caption --json`: {source, error} for a failure, else the decision."""
        if self.action == "error":
            return {"source": self.source, "error": self.reason}
        return {k: v for k, v in asdict(self).items() if v is not None}


REVIEW_WHY = {
    "icon": "a caption cannot say what an icon means or whose logo it is",
    "chart": "a caption cannot read a chart's data",
    "art": "the captioner learned from photos, not drawings",
}


@dataclass
class Look:
    """One decoded image: what the encoder reads, the image statistics, and a picture for OCR."""

    pixels: np.ndarray  # (S, S, 3) uint8
    stats: np.ndarray  # alttext.kinds.STAT_NAMES, of the original image
    picture: Image.Image  # the original, at most MAX_SIDE pixels on its long side
    rule: str | None  # why it is unmistakably decoration, when it is


class Describer:
    """Image bytes -> Description, in batches: decode in parallel, encode together, then per kind
    beam-search the photos together and read the words of text and screenshots."""

    def __init__(self, captioner, batch_size: int = 16, workers: int = 4, head: KindHead | None = None,
                 actions: dict[str, str] | None = None, reader: Reader | None = None):
        self.captioner = captioner
        self.batch_size = max(1, batch_size)
        # The review threshold is applied by the caller (apply_floor), so that one description serves any floor.
        self.default_min_confidence = float(captioner.bundle.meta.get("min_confidence", 0.0))
        self.workers = workers
        self.head = head
        self.actions = actions or dict(DEFAULT_ACTIONS)
        self.reader = reader or Reader()

    @property
    def model_id(self) -> str:
        """What fill's cache is keyed by: another head, decoding settings, other actions or OCR coming
        or going give new results."""
        changed = [f"{k}={v}" for k, v in sorted(self.actions.items()) if DEFAULT_ACTIONS[k] != v]
        head = self.head.digest if self.head else "none"
        ocr = "ocr" if self.reader.available else "no-ocr"
        consensus = self.captioner.consensus.digest if self.captioner.consensus else "none"
        confidence = hashlib.sha256(json.dumps(self.captioner.confidence_model, sort_keys=True).encode()).hexdigest()
        return "+".join([self.captioner.bundle.model_id, self.captioner.decoding, f"kinds:{head}",
                         f"neighbours:{consensus}", f"confidence:{confidence[:12]}", ocr, *changed])

    def _look(self, item: tuple[str, bytes]) -> Look | Description:
        source, data = item
        try:
            picture = open_image(data, source)
        except SourceError as e:
            return Description(source, "error", reason=e.reason)
        look = Look(squash(picture, self.captioner.input_size), image_stats(picture), picture,
                    decoration_rule(picture, source))
        picture.thumbnail((MAX_SIDE, MAX_SIDE))
        return look

    def __call__(self, items: list[tuple[str, bytes]]) -> list[Description]:
        with ThreadPoolExecutor(self.workers) as pool:
            loaded = list(pool.map(self._look, items))
        results: list[Description | None] = [r if isinstance(r, Description) else None for r in loaded]
        todo = [i for i, r in enumerate(results) if r is None]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            described = self._describe([items[i][0] for i in chunk], [loaded[i] for i in chunk])
            for i, description in zip(chunk, described):
                results[i] = description
        return results

    def _describe(self, sources: list[str], looks: list[Look]) -> list[Description]:
        pixels = np.stack([look.pixels for look in looks])
        feats, h, c, pooled = self.captioner.feed_image(pixels)
        kinds = self._kinds(pooled, looks)
        actions = [self.actions[kind.name] for kind in kinds]
        wanted = [i for i, action in enumerate(actions) if action == "caption"]
        found = self.captioner.captions(pixels[wanted], feats[wanted], h[wanted], c[wanted], pooled[wanted]) \
            if wanted else []
        captions = dict(zip(wanted, found))
        return [self._decide(source, look, kind, action, captions.get(i))
                for i, (source, look, kind, action) in enumerate(zip(sources, looks, kinds, actions))]

    def _kinds(self, pooled: np.ndarray, looks: list[Look]) -> list[Kind]:
        found = self.head.classify(pooled, np.stack([look.stats for look in looks])) if self.head \
            else [Kind(UNKNOWN)] * len(looks)
        return [Kind("decoration", rule=look.rule) if look.rule else kind for kind, look in zip(found, looks)]

    def _decide(self, source: str, look: Look, kind: Kind, action: str, cap: Caption | None) -> Description:
        note = kind.note()
        if action == "caption":
            return self._captioned(source, kind, cap)
        if action == "empty" and kind.rule:
            return Description(source, "alt", "", kind=kind.name, reason=f'{note}: alt=""')
        if action == "empty":
            return Description(source, "review", kind=kind.name,
                               reason=f'{note}: alt="" is written only where decoration is unmistakable')
        if action == "review":
            why = REVIEW_WHY.get(kind.name, "a person should write it")
            return Description(source, "review", kind=kind.name, reason=f"{note}: {why}")
        reading = self.reader.read(look.picture)
        if action == "words":
            return words_description(source, kind, reading)
        return screenshot_description(source, kind, reading)

    def _captioned(self, source: str, kind: Kind, cap: Caption) -> Description:
        confidence = round(cap.confidence, 4)
        note = kind.note()
        if not cap.text:
            return Description(source, "review", confidence=confidence, kind=kind.name,
                               reason=f"{note}: the model wrote no words")
        return Description(source, "alt", cap.text, confidence, kind.name, note)


def apply_floor(found: Description, floor: float) -> Description:
    """A caption whose confidence is under the review threshold becomes a flag for a person, with the
    model's guess in the reason and nothing to write; every other description is returned as it is."""
    if found.action != "alt" or found.confidence is None or found.confidence >= floor:
        return found
    why = (f"confidence {found.confidence:.3f} is below --min-confidence {floor:g} "
           f"(the model's guess, not written: {found.alt!r})")
    reason = f"{found.reason}: {why}" if found.reason else why
    return Description(found.source, "review", confidence=found.confidence, kind=found.kind, reason=reason)


def words_description(source: str, kind: Kind, reading: Reading) -> Description:
    """The words as the alt text; a flag when none were read."""
    note = kind.note()
    if reading.failure or not reading.text:
        why = reading.failure or "no words were read with confidence"
        return Description(source, "review", kind=kind.name, reason=f"{note}: {why}")
    return Description(source, "alt", reading.text, kind=kind.name, reason=f"{note}: its words, read by OCR")


def screenshot_description(source: str, kind: Kind, reading: Reading) -> Description:
    """'Screenshot of TITLE.' from its top line of words, always flagged: a person knows what it shows."""
    title = reading.title.rstrip(" .:;,")
    alt = f"Screenshot of {title}." if title else "Screenshot."
    why = reading.failure or ("titled by its top line of words" if title else "no words were read with confidence")
    reason = f"{kind.note()}: {why}; a person should say what it shows"
    return Description(source, "review", alt, kind=kind.name, reason=reason)


def make_describer(model=None, device: str = "auto", batch_size: int = 16, beam_size: int | None = None,
                   on_device_note=None, actions: dict[str, str] | None = None, ocr_timeout: float = 15.0,
                   quality: str = "default") -> Describer:
    """Load the bundle and its kind head (raises ModelError); say where it runs through on_device_note(line)."""
    bundle = load_bundle(model, device)
    head = load_head(bundle.path, bundle.meta)
    if on_device_note:
        on_device_note(bundle.device_note)
    return Describer(Captioner(bundle, beam_size, quality=quality), batch_size, head=head, actions=actions,
                     reader=Reader(ocr_timeout))
