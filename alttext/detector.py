"""The bundle's COCO object detector (NanoDet, detector.onnx): pictures -> labelled boxes.

The ONNX graph gives, for each level (stride 8, 16, 32), per grid cell 80 class scores (0..1) and
4 x `reg_bins` logits, one distribution over distances for each side (left, top, right, bottom);
this module decodes them in numpy (upstream's GFL head: softmax, expected value, times the stride,
from the cell centre) and keeps the best box of each object by per-class NMS.
The "detector" section of model.json is documented in README.md ("The model bundle").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from alttext.errors import ModelError
from alttext.sessions import open_part

FILE = "detector.onnx"
BATCH = 8  # pictures per run (each input is 2 MB: 3 x 416 x 416 float32)
CANDIDATES = 1000  # the best boxes that enter NMS (upstream keeps 1000 a level)
SECTION_KEYS = ("input_size", "normalisation", "resize", "strides", "reg_bins", "labels", "score_threshold",
                "iou_threshold", "max_detections")


@dataclass
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the picture's width, height


class Detector:
    def __init__(self, session: ort.InferenceSession, config: dict, digest: str):
        self.session = session
        self.config = config
        self.digest = digest  # of detector.onnx: caches of detections are keyed by it
        self.labels: list[str] = config["labels"]

    def detect(self, pictures: list[Image.Image]) -> list[list[Detection]]:
        """Each picture's detections, best first."""
        found = []
        for start in range(0, len(pictures), BATCH):
            images, frames = preprocess(pictures[start:start + BATCH], self.config)
            outputs = self.raw(images)
            found.extend(self.decode({name: value[i] for name, value in outputs.items()}, frame)
                         for i, frame in enumerate(frames))
        return found

    def raw(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's outputs for a preprocessed batch: scores_S (B, cells, classes) and boxes_S
        (B, cells, 4 * reg_bins) for each stride S."""
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, {self.session.get_inputs()[0].name: images})))

    def decode(self, outputs: dict[str, np.ndarray], frame: np.ndarray) -> list[Detection]:
        """One picture's raw outputs (no batch axis) -> its detections after NMS; `frame` is where
        the picture lies in the input (x, y, width, height in input pixels)."""
        c = self.config
        boxes, scores, classes = candidates(outputs, c["strides"], c["input_size"], c["reg_bins"],
                                            c["score_threshold"])
        keep = per_class_nms(boxes, scores, classes, c["iou_threshold"], c["max_detections"])
        fractions = np.clip((boxes[keep] - np.tile(frame[:2], 2)) / np.tile(frame[2:], 2), 0.0, 1.0)
        return [Detection(self.labels[classes[k]], float(scores[k]), tuple(float(v) for v in box))
                for k, box in zip(keep, fractions)]


def fit(picture: Image.Image, size: int, resize: str) -> tuple[Image.Image, np.ndarray]:
    """The picture as the size x size input and where it lies in it (x, y, width, height): squashed
    to fill it, or letterboxed (aspect ratio kept, centred on black)."""
    picture = picture.convert("RGB")
    if resize == "squash":
        return picture.resize((size, size), Image.BILINEAR), np.array([0, 0, size, size], np.float32)
    scale = size / max(picture.size)
    width, height = (max(1, round(side * scale)) for side in picture.size)
    canvas = Image.new("RGB", (size, size))
    x, y = (size - width) // 2, (size - height) // 2
    canvas.paste(picture.resize((width, height), Image.BILINEAR), (x, y))
    return canvas, np.array([x, y, width, height], np.float32)


def preprocess(pictures: list[Image.Image], config: dict) -> tuple[np.ndarray, np.ndarray]:
    """(B, 3, S, S) float32 inputs (BGR, normalised) and (B, 4) where each picture lies in its input."""
    norm, size = config["normalisation"], config["input_size"]
    fitted = [fit(p, size, config["resize"]) for p in pictures]
    pixels = np.stack([np.asarray(image) for image, _ in fitted])  # (B, S, S, 3) uint8
    sources = (2, 1, 0) if norm["colour"] == "BGR" else (0, 1, 2)
    images = np.empty((len(pictures), 3, size, size), np.float32)
    # channel by channel into the output, with the float32 steps of (x * scale - mean) / std on the whole
    # array: the same values, without three full-size float copies of the batch
    for channel, source in enumerate(sources):
        out = images[:, channel]
        np.multiply(pixels[..., source], np.float32(norm["scale"]), out=out)
        out -= np.float32(norm["mean"][channel])
        out /= np.float32(norm["std"][channel])
    return images, np.stack([frame for _, frame in fitted])


def distances(logits: np.ndarray, reg_bins: int) -> np.ndarray:
    """(N, 4 * bins) logits -> (N, 4) expected distance of each side, in bins (softmax over the bins)."""
    logits = logits.reshape(len(logits), 4, reg_bins)
    weights = np.exp(logits - logits.max(axis=2, keepdims=True))
    weights /= weights.sum(axis=2, keepdims=True)
    return weights @ np.arange(reg_bins, dtype=np.float32)


def candidates(outputs: dict[str, np.ndarray], strides: list[int], input_size: int, reg_bins: int,
               threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (cell, class) scoring at least `threshold`, over all levels: boxes (N, 4) in input
    pixels (x0, y0, x1, y1), scores (N,), class indices (N,)."""
    all_boxes, all_scores, all_classes = [], [], []
    for stride in strides:
        scores = outputs[f"scores_{stride}"]
        cells, classes = np.nonzero(scores >= threshold)
        width = -(-input_size // stride)
        centres = (np.stack([cells % width, cells // width], axis=1) + 0.5) * stride
        sides = distances(outputs[f"boxes_{stride}"][cells], reg_bins) * stride
        all_boxes.append(np.concatenate([centres - sides[:, :2], centres + sides[:, 2:]], axis=1))
        all_scores.append(scores[cells, classes])
        all_classes.append(classes)
    return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_classes)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (4,) with each of boxes (N, 4)."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def per_class_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float,
                  limit: int) -> list[int]:
    """Indices of the kept boxes (at most `limit`), best score first: a box is dropped when a better
    one of its class overlaps it by more than `threshold` IoU."""
    # boxes of different classes moved apart, so that they never overlap (upstream's batched NMS)
    shifted = boxes + (classes * (boxes.max(initial=0.0) + 1.0))[:, None]
    order = np.argsort(-scores, kind="stable")[:CANDIDATES]
    ranked = shifted[order]
    dropped = np.zeros(len(order), bool)
    kept: list[int] = []
    for best in np.arange(len(order)):
        if dropped[best]:
            continue
        kept.append(int(order[best]))
        if len(kept) == limit:
            break
        # each kept box against every later one, on a view of the ranked boxes (no copies)
        dropped[best + 1:] |= ~(iou(ranked[best], ranked[best + 1:]) <= threshold)
    return kept


def load_detector(bundle_dir: Path, meta: dict, providers: list[str]) -> Detector | None:
    """The bundle's detector; None when it has none (no detector.onnx, no "detector" section)."""
    part = open_part(bundle_dir, meta, FILE, "detector", SECTION_KEYS, providers)
    if part is None:
        return None
    session, config, digest = part
    path = Path(bundle_dir) / FILE
    expected = {f"{kind}_{stride}" for stride in config["strides"] for kind in ("scores", "boxes")}
    shapes = {o.name: o.shape for o in session.get_outputs()}
    if set(shapes) != expected:
        raise ModelError(f"{path}: outputs {sorted(shapes)}, model.json's strides need {sorted(expected)}")
    classes = shapes[f"scores_{config['strides'][0]}"][-1]
    if classes != len(config["labels"]):
        raise ModelError(f"{path}: {classes} classes, model.json names {len(config['labels'])}")
    return Detector(session, config, digest)
