"""What to write for each image: the single entry point that `caption`, `fill` and `serve` share."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from alttext.bundle import load_bundle
from alttext.captioner import Captioner
from alttext.errors import SourceError
from alttext.images import load_pixels


@dataclass
class Description:
    """What alttext decided for one image.

    action: "alt" (write `alt`), "review" (write nothing unless `alt` is set, flag for a person),
    or "error" (the image could not be used; `reason` says why).
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


class Describer:
    """Image bytes -> Description, in batches: decode in parallel, encode and beam-search together."""

    def __init__(self, captioner, batch_size: int = 16, min_confidence: float | None = None, workers: int = 4):
        self.captioner = captioner
        self.batch_size = max(1, batch_size)
        self.default_min_confidence = float(captioner.bundle.meta.get("min_confidence", 0.0))
        self.min_confidence = self.default_min_confidence if min_confidence is None else min_confidence
        self.workers = workers

    @property
    def model_id(self) -> str:
        return self.captioner.bundle.model_id

    def _pixels(self, item: tuple[str, bytes]):
        source, data = item
        try:
            return load_pixels(data, source, self.captioner.input_size)
        except SourceError as e:
            return Description(source, "error", reason=e.reason)

    def __call__(self, items: list[tuple[str, bytes]]) -> list[Description]:
        with ThreadPoolExecutor(self.workers) as pool:
            loaded = list(pool.map(self._pixels, items))
        results: list[Description | None] = [r if isinstance(r, Description) else None for r in loaded]
        todo = [i for i, r in enumerate(results) if r is None]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            captions = self.captioner.caption(np.stack([loaded[i] for i in chunk]))
            for i, cap in zip(chunk, captions):
                results[i] = self._decide(items[i][0], cap)
        return results

    def _decide(self, source: str, cap) -> Description:
        confidence = round(cap.confidence, 4)
        if not cap.text:
            return Description(source, "review", confidence=confidence, reason="the model wrote no words")
        if confidence < self.min_confidence:
            return Description(source, "review", confidence=confidence,
                               reason=f"confidence {confidence:.2f} is under {self.min_confidence:.2f} "
                                      f"(the model's guess, not written: {cap.text!r})")
        return Description(source, "alt", cap.text, confidence)


def make_describer(model=None, device: str = "auto", batch_size: int = 16, beam_size: int | None = None,
                   min_confidence: float | None = None, on_device_note=None) -> Describer:
    """Load the bundle (raises ModelError) and say where it runs through on_device_note(line)."""
    bundle = load_bundle(model, device)
    if on_device_note:
        on_device_note(bundle.device_note)
    return Describer(Captioner(bundle, beam_size), batch_size, min_confidence)
