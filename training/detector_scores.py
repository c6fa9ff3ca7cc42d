"""Score cached detections (training/detections.py) against the truth of their photo set.

    python -m training.detector_scores .devdata/detections_tiny_coco_val2017.json \\
        --instances ../shared/data/tiny_coco/annotations/instances_val2017.json
    python -m training.detector_scores .devdata/detections_flickr8k_dev.json --flickr8k ../shared/data/flickr8k

COCO boxes: per class, detections at score >= each threshold matched (best first) to unmatched
boxes of their class at IoU >= 0.5 (crowd boxes left out): precision and recall.
Flickr8k: image-level claims ("the photo shows a dog": the class's best score >= threshold),
right when one of the photo's 5 captions names it (alttext.objects: CHAIR's words, as training.alt_eval
counts them).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from alttext.detector import iou
from alttext.objects import objects_named
from training.data import read_flickr8k

IOU = 0.5
THRESHOLDS = (0.3, 0.5)
CLAIMS = ("person", "dog")  # the classes whose image-level claims are scored on Flickr8k


def coco_truth(instances: Path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """File name -> its non-crowd boxes (label, x0, y0, x1, y1 as fractions)."""
    data = json.loads(instances.read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    images = {image["id"]: image for image in data["images"]}
    truth: dict[str, list] = {image["file_name"]: [] for image in data["images"]}
    for ann in data["annotations"]:
        if ann["iscrowd"]:
            continue
        image = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        box = np.array([x, y, x + w, y + h]) / np.array([image["width"], image["height"]] * 2)
        truth[image["file_name"]].append((names[ann["category_id"]], box))
    return truth


def match_boxes(found: list[list], truth: list[tuple[str, np.ndarray]], threshold: float) -> Counter:
    """Counts of (label, "tp"/"fp"/"fn") for one photo."""
    counts: Counter = Counter()
    unmatched = list(truth)
    for label, score, *box in found:
        if score < threshold:
            break
        same = [k for k, (name, _) in enumerate(unmatched) if name == label]
        overlaps = iou(np.array(box), np.array([unmatched[k][1] for k in same])) if same else np.zeros(0)
        if len(overlaps) and overlaps.max() >= IOU:
            unmatched.pop(same[int(overlaps.argmax())])
            counts[label, "tp"] += 1
        else:
            counts[label, "fp"] += 1
    for name, _ in unmatched:
        counts[name, "fn"] += 1
    return counts


def ratio(a: int, b: int) -> str:
    return f"{a / b:.0%} ({a}/{b})" if b else "-"


def box_report(detections: dict, truth: dict) -> None:
    for threshold in THRESHOLDS:
        counts: Counter = Counter()
        for name, boxes in truth.items():
            counts += match_boxes(detections.get(name, []), boxes, threshold)
        labels = sorted({label for label, _ in counts}, key=lambda label: -(counts[label, "tp"] + counts[label, "fn"]))
        total = {kind: sum(counts[label, kind] for label in labels) for kind in ("tp", "fp", "fn")}
        print(f"score >= {threshold}: boxes at IoU {IOU}: precision {ratio(total['tp'], total['tp'] + total['fp'])}, "
              f"recall {ratio(total['tp'], total['tp'] + total['fn'])}")
        for label in labels:
            tp, fp, fn = counts[label, "tp"], counts[label, "fp"], counts[label, "fn"]
            print(f"  {label:15} precision {ratio(tp, tp + fp):14} recall {ratio(tp, tp + fn)}")


def claim_report(detections: dict, flickr8k: Path) -> None:
    said_in = {photo.path.name: {o for c in photo.captions for o in objects_named(c)}
               for photo in read_flickr8k(flickr8k)}
    for label in CLAIMS:
        said = {name for name in detections if label in said_in[name]}
        for threshold in THRESHOLDS:
            claimed = {name for name, found in detections.items()
                       if any(row[0] == label and row[1] >= threshold for row in found)}
            print(f"{label} at score >= {threshold}: right {ratio(len(claimed & said), len(claimed))}, "
                  f"finds {ratio(len(claimed & said), len(said))} of the photos whose captions say it")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("detections", type=Path, help="a detections_*.json from training.detections")
    truth = p.add_mutually_exclusive_group(required=True)
    truth.add_argument("--instances", type=Path, help="COCO instances JSON of the same photos")
    truth.add_argument("--flickr8k", type=Path, help="the Flickr8k directory")
    args = p.parse_args(argv)
    detections = json.loads(args.detections.read_text())
    if args.instances:
        box_report(detections, coco_truth(args.instances))
    else:
        claim_report(detections, args.flickr8k)


if __name__ == "__main__":
    main()
