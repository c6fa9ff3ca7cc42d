"""Stand-in OCR engines for alttext.ocr's worker (module:function factories, as alttext.ocr.ENGINE names
them): each returns read(pixels, lang) -> {"rapidocr": boxes, "tesseract": boxes}."""

from __future__ import annotations

import time

LINES = [[10, 5, 150, 25, "NETWORK SETTINGS", 0.98], [10, 60, 40, 80, "OK", 0.95], [60, 60, 70, 80, "|", 0.99],
         [90, 60, 160, 80, "smudge", 0.2]]
# Tesseract's boxes are words; it also reads the low-confidence smudge, which stays unwritten all the same
WORDS = [[10, 5, 70, 25, "NETWORK", 0.91], [75, 5, 150, 25, "SETTINGS", 0.9], [10, 60, 40, 80, "OK", 0.96],
         [90, 60, 160, 80, "smudge", 0.4]]


def fixed():
    """Both engines read the same lines in every picture: a title, a button, a lone bar and a smudge."""
    return lambda pixels, lang: {"rapidocr": LINES, "tesseract": WORDS}


def misread():
    """The engines disagree on one word, as on a real 'REGISTER' read 'T' by one of them."""
    return lambda pixels, lang: {"rapidocr": LINES, "tesseract": [*WORDS[:1], [75, 5, 150, 25, "SETTLNGS", 0.6],
                                                                  *WORDS[2:]]}


def blank():
    """Neither engine reads a word."""
    return lambda pixels, lang: {"rapidocr": [], "tesseract": []}


def echo_language():
    """Both engines 'read' the language they were asked for, so a test sees what reached them."""
    return lambda pixels, lang: {"rapidocr": [[0, 0, 50, 20, f"lang {lang}", 0.99]],
                                 "tesseract": [[0, 0, 9, 20, "lang", 0.9], [10, 0, 50, 20, str(lang), 0.9]]}


def sleepy():
    """Answers after 2 s of sleep: wall time passes (as on a busy machine), CPU time does not."""

    def read(pixels, lang):
        time.sleep(2)
        return {"rapidocr": LINES, "tesseract": WORDS}

    return read


def spinning():
    """Spends CPU time for ever: only the CPU budget ends it."""

    def read(pixels, lang):
        while True:
            sum(range(10_000))

    return read


def broken():
    raise RuntimeError("no models here")
