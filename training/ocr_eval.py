"""Measure OCR on the real-image set (training/real_images.py): of the words written for text images,
how many alts carry only words the image shows, and how many read all of them; and each screenshot's
title, to be checked by eye against the picture.

    python -m training.ocr_eval --data .cache/real --out runs/ocr_eval.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from alttext.images import open_image
from alttext.ocr import MAX_SIDE, Reader, folded


def shown(words: str) -> set[str]:
    """The words a person read in the image, as OCR's are compared: letters and digits, case folded
    (a hyphenated badge's 'BY-NC' counts as 'by' and 'nc' too)."""
    found = set()
    for word in words.split():
        found.add(folded(word))
        found.update(folded(part) for part in word.split("-"))
    return found - {""}


def score(written: str, words: str) -> dict:
    said = [folded(w) for w in written.split() if folded(w)]
    truth = shown(words)
    return {"only_shown": all(w in truth for w in said),
            "in_full": all(folded(w) in set(said) for w in words.split() if folded(w) and "-" not in w)
            and all(p in said for w in words.split() if "-" in w for p in map(folded, w.split("-")))}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(".cache/real"))
    p.add_argument("--out", type=Path, default=Path("runs/ocr_eval.json"))
    p.add_argument("--budget", type=float, default=60.0, help="CPU seconds per image")
    p.add_argument("--screenshots", type=int, default=1000, help="read at most this many screenshots")
    args = p.parse_args(argv)
    reader = Reader(args.budget)
    results = []
    rows = [line.split("\t") for line in (args.data / "manifest.tsv").read_text().splitlines()]
    text = [r for r in rows if r[1] == "text"]
    for path, kind, _package, _split, words in text + [r for r in rows if r[1] == "screenshot"][: args.screenshots]:
        picture = open_image(Path(path).read_bytes(), path)
        picture.thumbnail((MAX_SIDE, MAX_SIDE))
        reading = reader.read(picture)
        row = {"path": path, "kind": kind, "words": words, "text": reading.text, "title": reading.title,
               "guess": reading.guess, "failure": reading.failure}
        if kind == "text":
            row.update(score(reading.text, words))
        results.append(row)
        print(kind, repr(words), "->", repr(reading.text if kind == "text" else reading.title),
              f"(guess {reading.guess!r})" if reading.guess else "", reading.failure or "", flush=True)
    reader.close()
    text = [r for r in results if r["kind"] == "text"]
    written = [r for r in text if r["text"]]
    summary = {"text_images": len(text), "text_written": len(written),
               "text_only_shown": sum(r["only_shown"] for r in written),
               "text_in_full": sum(r["in_full"] and bool(r["text"]) for r in text),
               "screenshots": len(results) - len(text),
               "screenshot_titles": sum(bool(r["title"]) for r in results if r["kind"] == "screenshot")}
    print(json.dumps(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "images": results}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
