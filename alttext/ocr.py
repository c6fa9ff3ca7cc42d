"""Words in images, offline, right or not at all: two engines read each picture, RapidOCR (PP-OCRv4 ONNX
models inside the rapidocr-onnxruntime package) and Tesseract 5 (Debian's tesseract-ocr and its
language packs), and only words both read are written, or on a small picture words Tesseract read alike
in two page layouts, every one confidently. They run in a worker process, so that each image's budget
of CPU time (not wall time: a busy machine must not change what is written) can be kept by ending the
worker.

The worker: `python -m alttext.ocr ENGINE` where ENGINE is module:function, a function that loads
the engines and returns `read(pixels (H, W, 3) uint8, lang) -> {engine: [[left, top, right, bottom,
text, score], ...]}` for the engines "rapidocr" and "tesseract" (and optionally Tesseract's LAYOUTS),
or raises NoLanguage. It reads a
JSON header line {"width", "height", "lang"} and the RGB bytes on stdin, and answers one JSON line.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import itertools
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

ENGINE = "alttext.ocr:two_engines"
INSTALL_HINT = ("apt-get install tesseract-ocr tesseract-ocr-eng; pip install --no-deps rapidocr-onnxruntime==1.4.4 "
                "(README: 'Image kinds')")
STARTUP_S = 120.0  # loading the models; not part of an image's budget
WALL_FACTOR = 20  # past this many times the CPU budget in wall time, a stuck worker is ended all the same
MIN_SCORE = 0.6  # RapidOCR boxes read with less confidence are dropped
MIN_SIDE = 48  # smaller pictures are enlarged first: the detector misses tiny text
TESSERACT_SIDE = 100  # Tesseract reads small text better a little larger
LINE_HEIGHT = 48  # RapidOCR's top lines, cut out at this height, are read once more by Tesseract, alone
LINE_COUNT = 8
# A picture up to this size (after `prepared`: pictures of text, small screenshots) is read by Tesseract in
# these page layouts (its page segmentation modes) too; a large screenshot would spend seconds on them for a
# title that does not use them.
LAYOUTS_MAX_PIXELS = 100_000
LAYOUTS = {"tesseract_block": 6, "tesseract_line": 7, "tesseract_sparse": 11}
ALONE_SCORE = 0.9  # Tesseract's words written without RapidOCR: two layouts read them, each this confident
MAX_SIDE = 1280
MAX_WORDS_CHARS = 125
JUNK = re.compile(r"^[^\w&@#%$€£+]+$")
# The page's language (its primary subtag) -> Tesseract's language pack. RapidOCR's model reads Latin
# letters and Chinese; the words it reads count only when Tesseract, in the page's language, agrees.
TESSERACT_LANGS = {"en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "nl": "nld", "pt": "por",
                   "ru": "rus", "el": "ell", "hi": "hin", "ja": "jpn", "zh": "chi_sim", "pl": "pol", "sv": "swe"}
CJK_LANGS = ("ja", "zh")


@dataclass
class Reading:
    text: str = ""  # every line, cleaned, joined, when both engines read every word alike; else ""
    title: str = ""  # the top line (a window's title, a page's heading) when both engines read it alike
    failure: str | None = None  # why nothing could be read (OCR missing, out of time, failed)
    guess: str = ""  # what RapidOCR read when Tesseract did not confirm it: for the reason, never written
    alone: bool = False  # `text` is Tesseract's alone, read alike in two layouts (tesseract_alone)


class NoLanguage(Exception):
    """The page's language has no Tesseract language pack here."""


def language(lang: str | None) -> str:
    """'de-AT' -> 'de'; None or '' -> 'en' (a page that says nothing is read as English, as before)."""
    return (lang or "en").split("-")[0].split("_")[0].lower()


def rapidocr():
    """RapidOCR alone (runs in the worker)."""
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


def tesseract_words(picture: Image.Image, pack: str, mode: int = 3) -> list[list]:
    """Tesseract's words (page segmentation `mode`), one thread (OMP_THREAD_LIMIT, set by the worker), on a
    picture at least TESSERACT_SIDE pixels high."""
    import pytesseract

    scale = min(max(TESSERACT_SIDE / picture.height, 1.0), 4.0)
    if scale > 1.0:
        picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.BICUBIC)
    found = pytesseract.image_to_data(picture, lang=pack, config=f"--psm {mode}", output_type=pytesseract.Output.DICT)
    return [[found["left"][i] / scale, found["top"][i] / scale, (found["left"][i] + found["width"][i]) / scale,
             (found["top"][i] + found["height"][i]) / scale, found["text"][i], float(found["conf"][i]) / 100]
            for i in range(len(found["text"])) if found["text"][i].strip()]


def line_cuts(picture: Image.Image, boxes: list[list]) -> list[Image.Image]:
    """RapidOCR's first LINE_COUNT confident boxes, top first, cut out, made dark on light (the
    background is most of a cut) and LINE_HEIGHT high: Tesseract reads a small line better alone."""
    cuts = []
    first = sorted((b for b in boxes if b[5] >= MIN_SCORE), key=lambda b: b[1])[:LINE_COUNT]
    for left, top, right, bottom, _, _ in first:
        pad = (bottom - top) / 50  # tight: a neighbouring line or frame in the cut is read as letters
        cut = ImageOps.grayscale(picture.crop((max(0, left - 2 * pad), max(0, top - pad),
                                               min(picture.width, right + 2 * pad), min(picture.height, bottom + pad))))
        if min(cut.size) < 2:
            continue
        cut = ImageOps.autocontrast(cut if np.median(np.asarray(cut)) > 127 else ImageOps.invert(cut))
        cut = cut.resize((max(1, round(cut.width * LINE_HEIGHT / cut.height)), LINE_HEIGHT), Image.BICUBIC)
        cuts.append(ImageOps.expand(cut, LINE_HEIGHT // 3, fill=255))
    return cuts


def two_engines():
    """The default: RapidOCR and Tesseract (runs in the worker)."""
    import pytesseract

    installed = set(pytesseract.get_languages())
    rapid = rapidocr()

    def read(pixels: np.ndarray, lang: str | None) -> dict[str, list[list]]:
        code = language(lang)
        pack = TESSERACT_LANGS.get(code)
        if pack not in installed:
            raise NoLanguage(f"no OCR language pack for {code!r} here"
                             + (f" (apt-get install tesseract-ocr-{pack.replace('_', '-')})" if pack else ""))
        boxes = rapid(pixels)
        picture = Image.fromarray(pixels)
        again = [word for cut in line_cuts(picture, boxes) for word in tesseract_words(cut, pack, mode=7)]
        found = {"rapidocr": boxes, "tesseract": tesseract_words(picture, pack) + again}
        if picture.width * picture.height <= LAYOUTS_MAX_PIXELS:
            found.update({layout: tesseract_words(picture, pack, mode) for layout, mode in LAYOUTS.items()})
            found["tesseract"] += found["tesseract_sparse"]
        return found

    return read


def engine_missing(engine: str) -> str | None:
    module = engine.partition(":")[0]
    needed = [module] + (["rapidocr_onnxruntime", "pytesseract"] if engine == ENGINE else [])
    for name in needed:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"OCR is not installed ({name} not found; {INSTALL_HINT})"
    return None


def prepared(picture: Image.Image) -> Image.Image:
    """Small pictures enlarged, large ones shrunk, so the detector sees text at a usable size."""
    scale = min(max(MIN_SIDE / min(picture.size), 1.0), 4.0, MAX_SIDE / max(picture.size))
    if scale == 1.0:
        return picture
    return picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.BICUBIC)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of the children it has waited for (Tesseract runs as one)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Reader:
    """OCR with a budget of CPU seconds per image; the worker starts on first use and again after one ran
    out. CPU time, not wall time, so that the same picture gets the same words on a busy machine."""

    def __init__(self, timeout_s: float = 60.0, engine: str | None = None):
        self.timeout_s = timeout_s
        self.engine = engine or ENGINE
        self.process: subprocess.Popen | None = None
        self.broken: str | None = engine_missing(self.engine)

    @property
    def available(self) -> bool:
        return self.broken is None

    def read(self, picture: Image.Image, lang: str | None = None) -> Reading:
        if self.broken:
            return Reading(failure=self.broken)
        try:
            self._start()
            answer = self._ask(np.asarray(prepared(picture).convert("RGB"), dtype=np.uint8), lang)
        except OcrFailure as failure:
            self.close()
            return Reading(failure=str(failure))
        if "error" in answer:
            return Reading(failure=f"OCR failed: {answer['error']}")
        return agreed(answer["readings"], lang)

    def _start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen([sys.executable, "-m", "alttext.ocr", self.engine], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
                                        env={**os.environ, "OMP_THREAD_LIMIT": "1"})
        atexit.register(self.close)
        ready = self._answer(STARTUP_S, "starting OCR", cpu=False)
        if "error" in ready:
            self.broken = f"OCR could not start: {ready['error']}"
            raise OcrFailure(self.broken)

    def _ask(self, pixels: np.ndarray, lang: str | None) -> dict:
        header = json.dumps({"width": pixels.shape[1], "height": pixels.shape[0], "lang": lang}).encode() + b"\n"
        try:
            self.process.stdin.write(header + pixels.tobytes())
            self.process.stdin.flush()
        except OSError as e:
            raise OcrFailure(f"OCR worker stopped ({e})") from None
        return self._answer(self.timeout_s, "reading")

    def _answer(self, limit_s: float, doing: str, cpu: bool = True) -> dict:
        """The worker's next line; OcrFailure past limit_s CPU seconds (or wall seconds when not cpu), or
        past WALL_FACTOR times that in wall time."""
        pid = self.process.pid
        cpu_start, wall_start = cpu_seconds(pid), time.monotonic()
        while True:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                break
            wall = time.monotonic() - wall_start
            used = cpu_seconds(pid) - cpu_start if cpu else wall
            if used > limit_s or wall > WALL_FACTOR * limit_s:
                unit = "CPU seconds" if cpu else "s"
                raise OcrFailure(f"OCR ran out of time ({doing} took over {limit_s:g} {unit})")
        line = self.process.stdout.readline()
        if not line:
            raise OcrFailure(f"OCR worker stopped while {doing}")
        return json.loads(line)

    def close(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the worker and a Tesseract it started
            except ProcessLookupError:
                pass
            self.process.communicate()  # reaps it and closes its pipes
            self.process = None


class OcrFailure(Exception):
    pass


def agreed(readings: dict[str, list[list]], lang: str | None = None) -> Reading:
    """RapidOCR's lines, kept only where Tesseract read the same words: all of them for `text`, the top
    line for `title`; what was read but not confirmed is the `guess`. Where RapidOCR's words are not all
    confirmed, `text` may still be Tesseract's alone (tesseract_alone)."""
    lines = rows(readings.get("rapidocr", []), keep_cjk=language(lang) in CJK_LANGS)
    alone = tesseract_alone(readings)
    if not lines:
        return Reading(alone, alone=bool(alone))
    confirm = Confirmer([w[4] for w in readings.get("tesseract", [])])
    checked = [confirm(line) for line in lines]
    texts = [clean_line(c) for c in checked if c]
    text = shorten(" ".join(texts)) if all(checked) and texts else ""
    title = shorten(window_title(clean_line(checked[0]))) if checked[0] else ""
    if text or alone:
        return Reading(text or alone, title, alone=not text)
    return Reading("", title, guess=shorten(" ".join(clean_line(line) for line in lines)))


def tesseract_alone(readings: dict[str, list[list]]) -> str:
    """Tesseract's words where two of its LAYOUTS read the very same ones, each word of two letters or more
    and at least ALONE_SCORE confident: a word-mark that RapidOCR misreads ("GNU FDL FREE DOC LICENSE" as
    "GNUFDL FREE REEDSE", italic "COMPAQ" as "1"); else ""."""
    found = [[w for w in readings.get(layout, []) if folded(w[4])] for layout in LAYOUTS]
    for one, other in itertools.combinations(found, 2):
        if one and [folded(w[4]) for w in one] == [folded(w[4]) for w in other] \
                and min(w[5] for w in one + other) >= ALONE_SCORE and min(len(folded(w[4])) for w in one) >= 2:
            return shorten(clean_line(" ".join(w[4] for w in one)))
    return ""


def window_title(line: str) -> str:
    """A top line without the lone letters at its ends: a title bar's close, menu and window buttons."""
    words = line.split()
    while words and len(folded(words[-1])) <= 1 and not words[-1].isdigit():
        words.pop()
    while words and len(folded(words[0])) <= 1 and not words[0].isdigit():
        words.pop(0)
    return " ".join(words)


def rows(lines: list[list], keep_cjk: bool = False) -> list[str]:
    """Confident boxes grouped into rows, top to bottom, left to right; CJK letters (RapidOCR's model
    reads them into Latin pictures as junk) dropped unless the page is Chinese or Japanese."""
    boxes = sorted((b for b in lines if b[5] >= MIN_SCORE and b[4].strip()), key=lambda b: (b[1] + b[3]) / 2)
    grouped: list[list[list]] = []
    for box in boxes:
        middle = (box[1] + box[3]) / 2
        if grouped and abs(middle - (grouped[-1][0][1] + grouped[-1][0][3]) / 2) < (box[3] - box[1]) / 2:
            grouped[-1].append(box)
        else:
            grouped.append([box])
    found = [join_row(row) for row in grouped]
    if not keep_cjk:
        found = [" ".join(w for w in line.split() if not any(is_cjk(c) for c in w)) for line in found]
    return [line for line in (clean_line(f) for f in found) if line]


def is_cjk(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))


def folded(word: str) -> str:
    """A word as the engines are compared on it: letters and digits only, case folded."""
    return "".join(c for c in unicodedata.normalize("NFKC", word).casefold() if c.isalnum())


class Confirmer:
    """Checks RapidOCR's words against Tesseract's: a word counts when Tesseract read the same letters as
    one of its words, as a part of one between hyphens or slashes ('BY-NC-ND'), or as a run of its
    words (then written with Tesseract's spaces)."""

    def __init__(self, words: list[str]):
        parts = [(part, n) for n, word in enumerate(words) for part in re.split(r"[-/]", word) if folded(part)]
        self.words = [part for part, _ in parts]
        self.keys = [folded(part) for part, _ in parts]
        self.origin = [n for _, n in parts]

    def __call__(self, line: str) -> str:
        """The line with every word confirmed, or "" when any word is not."""
        out = []
        for word in line.split():
            key = folded(word)
            if not key:
                out.append(word)  # punctuation alone: clean_line decides
                continue
            found = self.run(key)
            if found is None:
                return ""
            out.append(word if len(set(self.origin[found])) == 1 else " ".join(self.words[found]))
        return " ".join(out)

    def run(self, key: str) -> slice | None:
        """Where Tesseract's parts spell `key`, or None."""
        for start in range(len(self.keys)):
            joined = ""
            for end in range(start, len(self.keys)):
                joined += self.keys[end]
                if joined == key:
                    return slice(start, end + 1)
                if not key.startswith(joined):
                    break
        return None


def join_row(row: list[list]) -> str:
    """Boxes of one row left to right; boxes that overlap are parts of one word."""
    text, right = "", None
    for left, _, box_right, _, piece, _ in sorted(row):
        text += piece if right is not None and left < right else " " + piece
        right = box_right
    return text


def clean_line(text: str) -> str:
    """Spacing made plain, lone symbols and bars at word ends (tab and field borders) dropped,
    SHOUTING put in sentence case."""
    kept = [w.strip("|") for w in text.split() if not JUNK.match(w)]
    line = " ".join(kept)
    if sum(c.isalpha() for c in line) > 3 and line.upper() == line:
        line = line[:1] + line[1:].lower()
    return line


def shorten(text: str) -> str:
    if len(text) <= MAX_WORDS_CHARS:
        return text
    return text[: MAX_WORDS_CHARS - 1].rsplit(" ", 1)[0] + "…"


def serve(engine: str) -> None:
    """The worker: load the engines, then answer one JSON line per image until stdin closes."""
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
        try:
            answer = {"readings": read(pixels.reshape(size["height"], size["width"], 3), size.get("lang"))}
        except NoLanguage as e:
            answer = {"error": str(e)}
        except Exception as e:  # one bad image must not end the worker
            answer = {"error": f"{type(e).__name__}: {e}"[:200]}
        out.write(json.dumps(answer).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    serve(sys.argv[1])
