"""Words in images, offline: RapidOCR (PP-OCRv4 ONNX models shipped inside the rapidocr-onnxruntime
package) in a worker process, so that each image's time budget can be kept by ending the worker.

The worker: `python -m alttext.ocr ENGINE` where ENGINE is module:function, a function that loads
an engine and returns `read(pixels (H, W, 3) uint8) -> [[left, top, right, bottom, text, score], ...]`.
It reads a JSON header line {"width", "height"} and the RGB bytes on stdin, and answers one JSON line.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import json
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

ENGINE = "alttext.ocr:rapidocr"
INSTALL_HINT = "pip install --no-deps rapidocr-onnxruntime==1.4.4 (README: 'Image kinds')"
STARTUP_S = 120.0  # loading the models; not part of an image's budget
MIN_SCORE = 0.6  # words read with less confidence are dropped
MIN_SIDE = 48  # smaller pictures are enlarged first: the detector misses tiny text
MAX_SIDE = 1280
MAX_WORDS_CHARS = 125
JUNK = re.compile(r"^[^\w&@#%$€£+]+$")


@dataclass
class Reading:
    text: str = ""  # every line, cleaned, joined: "" when none was read with confidence
    title: str = ""  # the top line: a window's title, a page's heading
    failure: str | None = None  # why nothing could be read (OCR missing, out of time, failed)


def rapidocr():
    """The default engine (runs in the worker)."""
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()

    def read(pixels: np.ndarray) -> list[list]:
        found, _ = engine(pixels)
        rows = []
        for box, text, score in found or []:
            xs, ys = [p[0] for p in box], [p[1] for p in box]
            rows.append([min(xs), min(ys), max(xs), max(ys), text, float(score)])
        return rows

    return read


def engine_missing(engine: str) -> str | None:
    module = engine.partition(":")[0]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"OCR is not installed ({module} not found; {INSTALL_HINT})"


def prepared(picture: Image.Image) -> Image.Image:
    """Small pictures enlarged, large ones shrunk, so the detector sees text at a usable size."""
    scale = min(max(MIN_SIDE / min(picture.size), 1.0), 4.0, MAX_SIDE / max(picture.size))
    if scale == 1.0:
        return picture
    return picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.BICUBIC)


class Reader:
    """OCR with a time budget per image; the worker starts on first use and again after a timeout."""

    def __init__(self, timeout_s: float = 15.0, engine: str | None = None):
        self.timeout_s = timeout_s
        self.engine = engine or ENGINE
        self.process: subprocess.Popen | None = None
        self.broken: str | None = engine_missing(self.engine)

    @property
    def available(self) -> bool:
        return self.broken is None

    def read(self, picture: Image.Image) -> Reading:
        if self.broken:
            return Reading(failure=self.broken)
        try:
            self._start()
            answer = self._ask(np.asarray(prepared(picture).convert("RGB"), dtype=np.uint8))
        except OcrFailure as failure:
            self.close()
            return Reading(failure=str(failure))
        if "error" in answer:
            return Reading(failure=f"OCR failed: {answer['error']}")
        return words(answer["lines"])

    def _start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen([sys.executable, "-m", "alttext.ocr", self.engine], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        atexit.register(self.close)
        ready = self._answer(STARTUP_S, "starting OCR")
        if "error" in ready:
            self.broken = f"OCR could not start: {ready['error']}"
            raise OcrFailure(self.broken)

    def _ask(self, pixels: np.ndarray) -> dict:
        header = json.dumps({"width": pixels.shape[1], "height": pixels.shape[0]}).encode() + b"\n"
        try:
            self.process.stdin.write(header + pixels.tobytes())
            self.process.stdin.flush()
        except OSError as e:
            raise OcrFailure(f"OCR worker stopped ({e})") from None
        return self._answer(self.timeout_s, "reading")

    def _answer(self, limit_s: float, doing: str) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], limit_s)
        if not ready:
            raise OcrFailure(f"OCR ran out of time ({doing} took over {limit_s:g} s)")
        line = self.process.stdout.readline()
        if not line:
            raise OcrFailure(f"OCR worker stopped while {doing}")
        return json.loads(line)

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.communicate()  # reaps it and closes its pipes
            self.process = None


class OcrFailure(Exception):
    pass


def words(lines: list[list]) -> Reading:
    """Worker lines -> cleaned text: confident boxes grouped into rows, top to bottom, left to right."""
    boxes = sorted((b for b in lines if b[5] >= MIN_SCORE and b[4].strip()), key=lambda b: (b[1] + b[3]) / 2)
    rows: list[list[list]] = []
    for box in boxes:
        middle = (box[1] + box[3]) / 2
        if rows and abs(middle - (rows[-1][0][1] + rows[-1][0][3]) / 2) < (box[3] - box[1]) / 2:
            rows[-1].append(box)
        else:
            rows.append([box])
    texts = [t for t in (clean_line(join_row(row)) for row in rows) if t]
    if not texts:
        return Reading()
    return Reading(shorten(" ".join(texts)), shorten(texts[0]))


def join_row(row: list[list]) -> str:
    """Boxes of one row left to right; boxes that overlap are parts of one word."""
    text, right = "", None
    for left, _, box_right, _, piece, _ in sorted(row):
        text += piece if right is not None and left < right else " " + piece
        right = box_right
    return text


def clean_line(text: str) -> str:
    """Spacing made plain, lone symbols dropped, SHOUTING put in sentence case."""
    kept = [w for w in text.split() if not JUNK.match(w)]
    line = " ".join(kept)
    if sum(c.isalpha() for c in line) > 3 and line.upper() == line:
        line = line[:1] + line[1:].lower()
    return line


def shorten(text: str) -> str:
    if len(text) <= MAX_WORDS_CHARS:
        return text
    return text[: MAX_WORDS_CHARS - 1].rsplit(" ", 1)[0] + "…"


def serve(engine: str) -> None:
    """The worker: load the engine, then answer one JSON line per image until stdin closes."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever the engine prints must not mix with the answers
    try:
        module, _, name = engine.partition(":")
        read = getattr(importlib.import_module(module), name)()
    except Exception as e:  # any engine failure is the answer, not a crash
        out.write(json.dumps({"error": f"{type(e).__name__}: {e}"[:200]}).encode() + b"\n")
        out.flush()
        return
    out.write(b'{"ready": true}\n')
    out.flush()
    stdin = sys.stdin.buffer
    while header := stdin.readline():
        size = json.loads(header)
        pixels = np.frombuffer(stdin.read(size["width"] * size["height"] * 3), np.uint8)
        started = time.monotonic()
        try:
            answer = {"lines": read(pixels.reshape(size["height"], size["width"], 3))}
        except Exception as e:  # one bad image must not end the worker
            answer = {"error": f"{type(e).__name__}: {e}"[:200]}
        answer["seconds"] = round(time.monotonic() - started, 3)
        out.write(json.dumps(answer).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    serve(sys.argv[1])
