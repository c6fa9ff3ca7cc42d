"""Run the bundle's object detector over photo sets and keep what it finds, for tuning and scoring.

    python -m training.detections flickr8k:dev flickr8k:test tiny_coco:val2017 tiny_coco:train2017 \\
        --flickr8k ../shared/data/flickr8k --tiny-coco ../shared/data/tiny_coco --out .devdata

writes OUT/detections_{set}_{split}.json: {image file name: [[label, score, x0, y0, x1, y1], ...]}
(every detection the runtime keeps: score >= model.json's score_threshold, boxes as fractions of
the width and height, best first).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image

from alttext.bundle import load_bundle
from alttext.detector import Detection, Detector
from training.data import read_flickr8k

SETS = ("flickr8k", "tiny_coco")


def photo_paths(name: str, flickr8k: Path | None, tiny_coco: Path | None) -> list[Path]:
    """The photos of `flickr8k:SPLIT` (train, dev, test) or `tiny_coco:SPLIT` (val2017, train2017)."""
    kind, _, split = name.partition(":")
    if kind not in SETS or not split:
        raise SystemExit(f"{name}: use flickr8k:SPLIT or tiny_coco:SPLIT")
    root = flickr8k if kind == "flickr8k" else tiny_coco
    if root is None:
        raise SystemExit(f"{name}: give --{kind.replace('_', '-')} DIR")
    if kind == "flickr8k":
        paths = [photo.path for photo in read_flickr8k(root) if photo.split == split]
    else:
        paths = sorted((root / split).glob("*.jpg"))
    if not paths:
        raise SystemExit(f"{name}: no photos found under {root}")
    return paths


def as_row(found: Detection) -> list:
    return [found.label, round(found.score, 4), *(round(v, 4) for v in found.box)]


def detect_all(detector: Detector, paths: list[Path]) -> tuple[dict[str, list[list]], float]:
    """Each photo's detections by file name, and the mean seconds a photo (loading included)."""
    found = {}
    start = time.perf_counter()
    for first in range(0, len(paths), 32):
        chunk = paths[first:first + 32]
        pictures = [Image.open(path).convert("RGB") for path in chunk]
        for path, detections in zip(chunk, detector.detect(pictures)):
            found[path.name] = [as_row(d) for d in detections]
    return found, (time.perf_counter() - start) / len(paths)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sets", nargs="+", help="flickr8k:dev, flickr8k:test, tiny_coco:val2017, tiny_coco:train2017")
    p.add_argument("--flickr8k", type=Path)
    p.add_argument("--tiny-coco", type=Path)
    p.add_argument("--model", type=Path, help="bundle (default: the shipped one)")
    p.add_argument("--out", type=Path, default=Path(".devdata"))
    args = p.parse_args(argv)
    jobs = [(name, photo_paths(name, args.flickr8k, args.tiny_coco)) for name in args.sets]
    detector = load_bundle(args.model, "cpu").detector
    if detector is None:
        raise SystemExit(f"{args.model or 'the default bundle'}: has no detector (export.detector adds one)")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, paths in jobs:
        found, seconds = detect_all(detector, paths)
        out = args.out / f"detections_{name.replace(':', '_')}.json"
        out.write_text(json.dumps(found) + "\n")
        print(f"{out}: {len(found)} photos, {seconds * 1000:.0f} ms a photo (loading included)")


if __name__ == "__main__":
    main()
