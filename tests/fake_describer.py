"""A deterministic stand-in for the model-backed describer, for the fill tests."""

from __future__ import annotations

import hashlib
import io
import time

from PIL import Image

from alttext.describe import Description


def confidence_of(data: bytes) -> float:
    return round(hashlib.sha256(data).digest()[0] / 255, 3)


def caption_of(data: bytes) -> str:
    return f"A test caption of {len(data)} bytes."


class FakeDescriber:
    """Captions every picture "A test caption of N bytes."; records each call's sources."""

    model_id = "fake-model"
    default_min_confidence = 0.0

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.calls: list[list[str]] = []

    def __call__(self, items: list[tuple[str, bytes]]) -> list[Description]:
        self.calls.append([source for source, _ in items])
        time.sleep(self.delay_s)
        return [self.describe(source, data) for source, data in items]

    @staticmethod
    def describe(source: str, data: bytes) -> Description:
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
