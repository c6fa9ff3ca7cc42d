"""What to write for each image: the single entry point that `caption`, `fill` and `serve` share.

Each image's kind (alttext/kinds.py) picks what is written: for a photo, the caption when the
objects it names are seen, else the objects that are (alttext/evidence.py); the words OCR reads; a
screenshot's label; alt="" for unmistakable decoration; or nothing and a flag for a person.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from alttext.bundle import load_bundle
from alttext.captioner import Caption, Captioner
from alttext.closer import boxes_to_crop, crop
from alttext.detector import Detection
from alttext.errors import SourceError
from alttext.evidence import Evidence, Policy, decide
from alttext.imagenet import ImageNetHead, load_imagenet
from alttext.images import open_image, squash
from alttext.kinds import DEFAULT_ACTIONS, UNKNOWN, Kind, KindHead, decoration_rule, image_stats, load_head
from alttext.ocr import MAX_SIDE, Reader, Reading, language
from alttext.wording import neutral


@dataclass
class Description:
    """What alttext decided for one image.

    action: "alt" (write `alt`), "review" (write nothing unless `alt` is set, flag for a person),
    or "error" (the image could not be used; `reason` says why). kind: what the image is
    (alttext.kinds.KINDS, or "unknown" when the bundle has no kind head); reason: the kind and why.
    caption: the model's whole sentence whenever one was made, written or not. basis: what a photo's
    alt rests on ("verified caption", "objects", or "caption" when only its confidence speaks for it).
    guess: for a photo flagged for a person, what a reader who asks may hear, hedged (Verdict.guess).
    """

    source: str
    action: str
    alt: str | None = None
    confidence: float | None = None
    kind: str | None = None
    reason: str | None = None
    caption: str | None = None
    basis: str | None = None
    evidence: dict | None = None  # Evidence.as_dict(): what the detector, the ImageNet head and the pose model saw
    language: str | None = None  # the language alttext worded the alt in, where it chose one (screenshots)
    guess: str | None = None

    def as_dict(self) -> dict:
        """The JSON record of `caption --json`: {source, error} for a failure, else the decision."""
        if self.action == "error":
            return {"source": self.source, "error": self.reason}
        return {k: v for k, v in asdict(self).items() if v is not None}


CLASS_SHOWN = 0.2  # an ImageNet class this likely is shown in the evidence, as a suggestion for people
EVIDENCE_BASES = ("verified caption", "objects")  # alts that the objects seen speak for, not the confidence
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
    lang: str | None = None  # the page's language at the image (an item's optional third part)


class Describer:
    """Image bytes -> Description, in batches: decode in parallel, encode together, then per kind
    beam-search the photos together and read the words of text and screenshots."""

    def __init__(self, captioner, batch_size: int = 16, workers: int = 4, head: KindHead | None = None,
                 actions: dict[str, str] | None = None, reader: Reader | None = None, detector=None,
                 imagenet: ImageNetHead | None = None, pose=None):
        self.captioner = captioner
        self.batch_size = max(1, batch_size)
        # The review threshold is applied by the caller (apply_floor), so that one description serves any floor.
        self.default_min_confidence = float(captioner.bundle.meta.get("min_confidence", 0.0))
        self.workers = workers
        self.head = head
        self.actions = actions or dict(DEFAULT_ACTIONS)
        self.reader = reader or Reader()
        self.detector = detector
        self.imagenet = imagenet
        self.pose = pose
        self.policy = Policy.from_meta(captioner.bundle.meta)
        self.crop_every_photo = False  # else only photos whose caption is not yet verified (_look_closer)

    @property
    def model_id(self) -> str:
        """What fill's cache is keyed by: another head, decoding settings, other actions or OCR coming
        or going give new results."""
        changed = [f"{k}={v}" for k, v in sorted(self.actions.items()) if DEFAULT_ACTIONS[k] != v]
        head = self.head.digest if self.head else "none"
        ocr = "ocr" if self.reader.available else "no-ocr"
        consensus = self.captioner.consensus.digest if self.captioner.consensus else "none"
        confidence = digest_of(self.captioner.confidence_model)
        evidence = "+".join([self.detector.digest if self.detector else "none",
                             self.imagenet.digest if self.imagenet else "none",
                             self.pose.digest if self.pose else "none",
                             digest_of(self.policy.as_meta() if self.policy else None)])
        return "+".join([self.captioner.bundle.model_id, self.captioner.decoding, f"kinds:{head}",
                         f"neighbours:{consensus}", f"confidence:{confidence}", f"evidence:{evidence}",
                         f"rules:{rules_digest()}", ocr, *changed])

    def _look(self, item: tuple[str, bytes]) -> Look | Description:
        source, data, *lang = item
        try:
            picture = open_image(data, source)
        except SourceError as e:
            return Description(source, "error", reason=e.reason)
        look = Look(squash(picture, self.captioner.input_size), image_stats(picture), picture,
                    decoration_rule(picture, source), lang[0] if lang else None)
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
        photos = [looks[i].picture for i in wanted]
        with ThreadPoolExecutor(1) as beside:
            # The detector runs beside the beam search, on the core the search's Python leaves idle. A bundle
            # without evidence thresholds decides on the caption alone: no detector run for it.
            seeing = beside.submit(self._evidence, pooled[wanted], photos) if self.policy and wanted else None
            found = self.captioner.captions(pixels[wanted], feats[wanted], h[wanted], c[wanted], pooled[wanted]) \
                if wanted else []
            seen, detected = seeing.result() if seeing else ([], [])
        if detected and self.imagenet and self.policy and self.policy.looks_closer:
            self._look_closer(found, seen, photos, detected)
        captions = dict(zip(wanted, found))
        evidence = dict(zip(wanted, seen))
        return [self._decide(source, look, kind, action, captions.get(i), evidence.get(i))
                for i, (source, look, kind, action) in enumerate(zip(sources, looks, kinds, actions))]

    def _kinds(self, pooled: np.ndarray, looks: list[Look]) -> list[Kind]:
        found = self.head.classify(pooled, np.stack([look.stats for look in looks])) if self.head \
            else [Kind(UNKNOWN)] * len(looks)
        return [Kind("decoration", rule=look.rule) if look.rule else kind for kind, look in zip(found, looks)]

    def _evidence(self, pooled: np.ndarray,
                  pictures: list[Image.Image]) -> tuple[list[Evidence], list[list[Detection]]]:
        """What the detector, the ImageNet head and the pose model see in each photo (nothing, for a
        bundle without them), and the detector's detections (none without a detector)."""
        found = [Evidence() for _ in pictures]
        if self.imagenet and pictures:
            probabilities = self.imagenet.probabilities(pooled)
            for one, scores, creatures, animal, top in zip(found, self.imagenet.category_scores(probabilities),
                                                           self.imagenet.creature_scores(probabilities),
                                                           self.imagenet.animal_scores(probabilities),
                                                           self.imagenet.top(probabilities)):
                one.imagenet, one.creatures, one.animal = scores, creatures, animal
                one.classes = [(noun, p) for noun, p in top if p >= CLASS_SHOWN]
        detected = self.detector.detect(pictures) if self.detector and pictures else []
        for one, detections in zip(found, detected):
            for d in detections:  # best first
                one.boxes.setdefault(d.label, []).append(d.score)
        if self.pose and pictures:
            for one, bodies in zip(found, self.pose.bodies(pictures)):
                one.bodies = bodies
        return found, detected

    def _look_closer(self, captions: list[Caption], found: list[Evidence], pictures: list[Image.Image],
                     detected: list[list[Detection]]) -> None:
        """Each photo's crops of its best boxes, through the encoder and the ImageNet head, where they
        can change what is written: not where the whole photo's evidence already verifies the caption
        (a crop only adds support), which saves most of the crops on photos like Flickr's. With
        `crop_every_photo` (training.alt_eval, so that its records hold the crops whatever policy
        the tuner tries on them) every photo is cropped."""
        known = set(self.imagenet.categories)
        wanted = [(one, picture, box, labels)
                  for cap, one, picture, detections in zip(captions, found, pictures, detected)
                  if self.crop_every_photo
                  or decide(cap.text or None, cap.confidence, one, self.policy).basis != "verified caption"
                  for box, labels in boxes_to_crop(detections, known)]
        for start in range(0, len(wanted), self.batch_size):
            chunk = wanted[start:start + self.batch_size]
            pixels = np.stack([crop(picture, box.box, self.captioner.input_size) for _, picture, box, _ in chunk])
            *_, pooled = self.captioner.feed_image(pixels)
            for (one, _, _, labels), scores in zip(chunk, self.imagenet.category_scores(
                    self.imagenet.probabilities(pooled))):
                one.crops |= {label: scores for label in labels}

    def _decide(self, source: str, look: Look, kind: Kind, action: str, cap: Caption | None,
                evidence: Evidence | None) -> Description:
        note = kind.note()
        if action == "caption":
            return self._captioned(source, kind, cap, evidence)
        if action == "empty" and kind.rule:
            return Description(source, "alt", "", kind=kind.name, reason=f'{note}: alt=""')
        if action == "empty":
            return Description(source, "review", kind=kind.name,
                               reason=f'{note}: alt="" is written only where decoration is unmistakable')
        if action == "review":
            why = REVIEW_WHY.get(kind.name, "a person should write it")
            return Description(source, "review", kind=kind.name, reason=f"{note}: {why}")
        reading = self.reader.read(look.picture, look.lang)
        if action == "words" and kind.name == "text" and kind.second and read_nothing(reading):
            # the head took it for text, and no words were found: it is what the head took second
            kind = kind.instead()
            action = self.actions[kind.name]
            if action in ("caption", "words"):  # no caption was made for it; the words are known to be none
                action = "review"
            if action != "screenshot":
                return self._decide(source, look, kind, action, None, None)
        if action == "words":
            return words_description(source, kind, reading)
        return screenshot_description(source, kind, reading, look.lang)

    def _captioned(self, source: str, kind: Kind, cap: Caption, evidence: Evidence | None) -> Description:
        confidence = round(cap.confidence, 4)
        note = kind.note()
        caption = cap.text or None
        if self.policy is None:  # a bundle without evidence thresholds: the caption and its confidence alone
            if not caption:
                return Description(source, "review", confidence=confidence, kind=kind.name,
                                   reason=f"{note}: the model wrote no words")
            return Description(source, "alt", neutral(caption), confidence, kind.name, note, caption, "caption")
        verdict = decide(caption, cap.confidence, evidence, self.policy)
        reason = f"{note}: {verdict.why}"
        seen = evidence.as_dict()
        if verdict.alt is None:
            return Description(source, "review", confidence=confidence, kind=kind.name, reason=reason,
                               caption=caption, evidence=seen, guess=verdict.guess)
        return Description(source, "alt", verdict.alt, confidence, kind.name, reason, caption, verdict.basis, seen)


def guess_of(found: Description) -> str | None:
    """Where nothing is written, what a reader may ask to hear, hedged, and a person may take as a
    start: the alt the describer would have written (held back by the review threshold or the page's
    language), or its guess for a photo it flagged (Verdict.guess: the caption only where the
    evidence gives its objects enough)."""
    return found.alt if found.action == "alt" else found.guess


def apply_floor(found: Description, floor: float) -> Description:
    """A caption that only its confidence speaks for (no object in it to check), under the review
    threshold, becomes a flag for a person, with the model's guess in the reason and nothing to write;
    every other description, alts resting on evidence included, is returned as it is."""
    if found.action != "alt" or found.basis in EVIDENCE_BASES or found.confidence is None or found.confidence >= floor:
        return found
    why = (f"confidence {found.confidence:.3f} is below --min-confidence {floor:g} "
           f"(the model's guess, not written: {found.alt!r})")
    reason = f"{found.reason}: {why}" if found.reason else why
    return Description(found.source, "review", confidence=found.confidence, kind=found.kind, reason=reason,
                       caption=found.caption, evidence=found.evidence, guess=found.alt)


def unread(reading: Reading, part: str) -> str:
    """Why OCR's words are not written: it failed, the engines disagreed, or it read nothing."""
    if reading.failure:
        return reading.failure
    if reading.guess:
        return f"OCR's two engines did not read {part} alike, so none is written (one read {reading.guess!r})"
    return "no words were read with confidence"


ENGLISH_KINDS = ("photo", "unknown", "screenshot")  # worded by alttext (in English unless `language` says)


def english_only(found: Description, lang: str | None) -> Description:
    """An English sentence of ours meant for a page in another language becomes a flag, with the
    sentence in the reason: a screen reader would read it in the page's voice, and wrongly. A screenshot
    worded in the page's language stays."""
    page = language(lang)
    if found.action == "error" or not found.alt or found.kind not in ENGLISH_KINDS or page == "en" \
            or found.language == page:
        return found
    why = f"the page is in {lang!r} and this description is in English (not written: {found.alt!r})"
    return replace(found, action="review", alt=None, reason=f"{found.reason}: {why}" if found.reason else why)


def read_nothing(reading: Reading) -> bool:
    """OCR ran and neither engine read a word with confidence (not one that the other did not confirm)."""
    return not (reading.failure or reading.text or reading.guess)


def words_description(source: str, kind: Kind, reading: Reading) -> Description:
    """The words as the alt text when both OCR engines read them alike (or Tesseract alone, in two page
    layouts); else a flag."""
    note = kind.note()
    if reading.failure or not reading.text:
        return Description(source, "review", kind=kind.name, reason=f"{note}: {unread(reading, 'every word')}")
    how = "read alike by Tesseract in two page layouts, every word confidently" if reading.alone \
        else "read alike by two OCR engines"
    return Description(source, "alt", reading.text, kind=kind.name, reason=f"{note}: its words, {how}")


# A screenshot's alt in the page's language: (with a title, without). Languages not here get no alt.
SCREENSHOT_WORDS = {"en": ("Screenshot of {}.", "Screenshot."), "de": ("Bildschirmfoto: {}.", "Bildschirmfoto."),
                    "fr": ("Capture d'écran : {}.", "Capture d'écran."),
                    "es": ("Captura de pantalla: {}.", "Captura de pantalla."),
                    "nl": ("Schermafbeelding: {}.", "Schermafbeelding."),
                    "ja": ("スクリーンショット：{}。", "スクリーンショット。")}


def screenshot_description(source: str, kind: Kind, reading: Reading, lang: str | None = None) -> Description:
    """'Screenshot of TITLE.' (in the page's language) from its top line when both OCR engines read it
    alike, 'Screenshot.' when they did not; always flagged: a person knows what it shows. Nothing is
    written when OCR failed or the page's language has no wording here."""
    note, ask = kind.note(), "a person should say what it shows"
    wording = SCREENSHOT_WORDS.get(language(lang))
    if reading.failure or wording is None:
        why = reading.failure or f"no wording for a screenshot in the page's language {language(lang)!r}"
        return Description(source, "review", kind=kind.name, reason=f"{note}: {why}; {ask}")
    title = reading.title.rstrip(" .:;,")
    alt = wording[0].format(title) if title else wording[1]
    why = "titled by its top line, read alike by two OCR engines" if title else unread(reading, "its top line")
    return Description(source, "review", alt, kind=kind.name, reason=f"{note}: {why}; {ask}", language=language(lang))


def flag_repeats(found: list) -> list:
    """One page's descriptions (or fill's report records: anything with kind, alt and reason), each
    screenshot whose alt another screenshot on the page also got marked in its reason: a person must tell
    them apart (fill runs it per page, on its records)."""
    alts = [d.alt for d in found if d.kind == "screenshot" and d.alt]
    return [replace(d, reason=f"{d.reason}; {alts.count(d.alt)} screenshots on this page got this same alt, "
                              "a person should tell them apart")
            if d.kind == "screenshot" and d.alt and alts.count(d.alt) > 1 else d for d in found]


def digest_of(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


RULE_MODULES = ("closer", "evidence", "objects", "wording")


@cache
def rules_digest() -> str:
    """Of the code that turns a photo's evidence into words, so that a change to its rules (a new
    threshold in alttext.closer, a guess made otherwise) makes fill's cached descriptions stale."""
    return digest_of([(Path(__file__).parent / f"{name}.py").read_text() for name in RULE_MODULES])


def make_describer(model=None, device: str = "auto", batch_size: int = 16, beam_size: int | None = None,
                   on_device_note=None, actions: dict[str, str] | None = None, ocr_timeout: float = 60.0,
                   quality: str = "default") -> Describer:
    """Load the bundle and its kind head (raises ModelError); say where it runs through on_device_note(line)."""
    bundle = load_bundle(model, device)
    head = load_head(bundle.path, bundle.meta)
    imagenet = load_imagenet(bundle.path, bundle.meta)
    if on_device_note:
        on_device_note(bundle.device_note)
    return Describer(Captioner(bundle, beam_size, quality=quality), batch_size, head=head, actions=actions,
                     reader=Reader(ocr_timeout), detector=bundle.detector, imagenet=imagenet, pose=bundle.pose)
