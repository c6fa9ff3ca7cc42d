"""A closer look: the detector's best box among the categories that the ImageNet head knows, cropped
from the picture and classified by the same encoder and head, so that a weak box whose crop the head
recognises may support or name its object (a toilet the detector gives 0.48 in a whole bathroom;
model.json "evidence": the "closer" tables). A crop only adds support: it sets nothing aside.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from alttext.detector import Detection, iou
from alttext.images import squash

FLOOR = 0.3  # the least detector score of a box that is looked at closer
MOST = 1  # crops per photo, the best box first: each costs an encoder run (README: "Speed")
MARGIN = 0.15  # each side of a box is moved out by this share of the box, so that the crop keeps some context
SAME_BOX = 0.8  # boxes overlapping this much (IoU) are one crop: the detector's dog and cat on one animal


def boxes_to_crop(detections: list[Detection], known: set[str]) -> list[tuple[Detection, list[str]]]:
    """The boxes to crop, at most MOST, best first, each with the categories it stands for. Of the
    best box of each category in `known` scoring at least FLOOR, each is cropped unless it is nearly
    the same as a better box already chosen, whose crop then stands for its category too."""
    best: dict[str, Detection] = {}
    for d in detections:  # best first
        if d.label in known and d.label not in best and d.score >= FLOOR:
            best[d.label] = d
    crops: list[tuple[Detection, list[str]]] = []
    for d in best.values():
        same = [labels for kept, labels in crops if iou(np.array(kept.box), np.array([d.box]))[0] >= SAME_BOX]
        if same:
            same[0].append(d.label)
        elif len(crops) < MOST:
            crops.append((d, [d.label]))
    return crops


def crop(picture: Image.Image, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """(size, size, 3) uint8: the box (fractions of the picture), widened by MARGIN and kept inside
    the picture, squashed as the encoder's inputs are."""
    width, height = picture.size
    x0, y0, x1, y1 = box
    dx, dy = MARGIN * (x1 - x0), MARGIN * (y1 - y0)
    # kept at least a pixel inside the picture: a box of no width on its right edge is still a crop of it
    left, top = min(width - 1, max(0, round((x0 - dx) * width))), min(height - 1, max(0, round((y0 - dy) * height)))
    right, bottom = min(width, round((x1 + dx) * width)), min(height, round((y1 + dy) * height))
    return squash(picture.crop((left, top, max(right, left + 1), max(bottom, top + 1))), size)
