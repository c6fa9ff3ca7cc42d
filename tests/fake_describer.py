"""Deterministic stand-ins for the model-backed describer, for the fill tests."""

from __future__ import annotations

import hashlib
import io
import time

from PIL import Image

from alttext.describe import Description, screenshot_description
from alttext.kinds import Kind
from alttext.ocr import Reader


def confidence_of(data: bytes) -> float:
    return round(hashlib.sha256(data).digest()[0] / 255, 3)


def caption_of(data: bytes) -> str:
    return f"A test caption of {len(data)} bytes."


class FakeDescriber:
    """Captions every picture "A test caption of N bytes."; records each call's sources (and the page
    languages asked for, in `languages`)."""

    model_id = "fake-model"
    default_min_confidence = 0.0

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.calls: list[list[str]] = []
        self.languages: list[list[str | None]] = []

    def __call__(self, items: list[tuple]) -> list[Description]:
        self.calls.append([source for source, *_ in items])
        self.languages.append([lang[0] if lang else None for _, _, *lang in items])
        time.sleep(self.delay_s)
        return [self.describe(*item) for item in items]

    @staticmethod
    def describe(source: str, data: bytes, lang: str | None = None) -> Description:
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except Exception:
            return Description(source, "error", reason="not an image")
        # as the real describer does for a caption that names no object the evidence could check
        return Description(source, "alt", caption_of(data), confidence_of(data), "photo", caption=caption_of(data),
                           basis="caption")

    @property
    def images_described(self) -> int:
        return sum(len(call) for call in self.calls)


class ScreenshotDescriber(FakeDescriber):
    """Takes the pictures whose bytes are in `screenshots` for screenshots and words them as the real describer
    does, from alttext.ocr's Reader (a tests/fake_ocr.py engine) asked in the page's language."""

    model_id = "fake-screenshots"

    def __init__(self, *screenshots: bytes):
        super().__init__()
        self.screenshots = screenshots
        self.reader = Reader(engine="fake_ocr:echo_language")  # it reads "lang LANG": the language it was asked

    def describe(self, source: str, data: bytes, lang: str | None = None) -> Description:
        if data not in self.screenshots:
            return super().describe(source, data, lang)
        with Image.open(io.BytesIO(data)) as picture:
            reading = self.reader.read(picture.convert("RGB"), lang)
        return screenshot_description(source, Kind("screenshot"), reading, lang)
