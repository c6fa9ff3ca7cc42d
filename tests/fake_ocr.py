"""Stand-in OCR engines for alttext.ocr's worker (module:function factories, as alttext.ocr.ENGINE names them)."""

from __future__ import annotations

import time

LINES = [[10, 5, 150, 25, "NETWORK SETTINGS", 0.98], [10, 60, 40, 80, "OK", 0.95], [60, 60, 70, 80, "|", 0.99],
         [90, 60, 160, 80, "smudge", 0.2]]


def fixed():
    """Reads the same lines in every picture: a title, a button, a lone bar and a low-confidence word."""
    return lambda pixels: LINES


def slow():
    """Never answers in time."""

    def read(pixels):
        time.sleep(60)
        return []

    return read


def broken():
    raise RuntimeError("no models here")
