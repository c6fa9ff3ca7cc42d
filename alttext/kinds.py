"""What an image is, before anything is written about it.

Kinds: photo, text (buttons, headings, banners, word-marks), screenshot, icon (icons and logos),
chart (charts and diagrams), decoration (spacers, dividers, slices, flat colour) and art (drawings,
renders). A small head on the encoder's pooled feature plus cheap statistics of the decoded image
(kinds.npz in the bundle, README: "Image kinds") says which; unmistakable decorations are found by
rules alone, with or without a head. Each kind has an action, overridable with KIND=ACTION.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from alttext.bundle import read_arrays
from alttext.errors import ModelError

KINDS = ("photo", "text", "screenshot", "icon", "chart", "decoration", "art")
UNKNOWN = "unknown"  # the bundle has no head: only the decoration rules can tell
NAMES = {"photo": "a photo", "text": "an image of text", "screenshot": "a screenshot",
         "icon": "an icon or logo", "chart": "a chart or diagram", "decoration": "decoration",
         "art": "a drawing or render", UNKNOWN: "of unknown kind"}
# caption: the caption when its confidence clears the threshold; words: the words OCR reads;
# screenshot: "Screenshot of ..." from the words, flagged; review: nothing written, flagged;
# empty: alt="" where the decoration rules are sure, else flagged.
ACTIONS = ("caption", "words", "screenshot", "review", "empty")
DEFAULT_ACTIONS = {"photo": "caption", "text": "words", "screenshot": "screenshot", "icon": "review",
                   "chart": "review", "decoration": "empty", "art": "review", UNKNOWN: "caption"}
HEAD_FILE = "kinds.npz"
STAT_NAMES = ("log_width", "log_height", "log_aspect", "log_area", "log_colours", "top_colour_share",
              "top8_colour_share", "edge_share", "flat_share", "saturation", "luminance_std",
              "white_share", "black_share", "mean_gradient")
STAT_SIDE = 256  # statistics are taken on a copy at most this large (nearest neighbour: colours kept)
FLAT_SPREAD = 6  # a channel that varies by no more than this is flat (JPEG noise included)
SPACER_NAME = re.compile(
    r"(?:^|[-_.])(?:spacer|blank|shim|clear|clearpixel|pixel|1x1)(?:[-_]?\d+)?\.(?:gif|png|webp)$",
    re.IGNORECASE,
)


def image_stats(picture: Image.Image) -> np.ndarray:
    """STAT_NAMES of the decoded image, as float32: size and shape, colours, flatness, edges."""
    width, height = picture.size
    small = picture.copy()
    small.thumbnail((STAT_SIDE, STAT_SIDE), Image.NEAREST)
    rgb = np.asarray(small, dtype=np.int32)
    packed = (rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]).ravel()
    counts = np.sort(np.unique(packed, return_counts=True)[1])[::-1] / packed.size
    luminance = rgb @ np.array([299, 587, 114]) / 1000.0
    dx = np.abs(np.diff(luminance, axis=1)) if luminance.shape[1] > 1 else np.zeros((1, 1))
    dy = np.abs(np.diff(luminance, axis=0)) if luminance.shape[0] > 1 else np.zeros((1, 1))
    same = (np.diff(packed.reshape(rgb.shape[:2]), axis=1) == 0) if rgb.shape[1] > 1 else np.ones((1, 1))
    return np.array([
        np.log2(width), np.log2(height), np.log2(width / height), np.log2(width * height),
        np.log2(1 + len(counts)), counts[0], counts[:8].sum(),
        (dx > 32).mean() + (dy > 32).mean(), same.mean(),
        (rgb.max(axis=2) - rgb.min(axis=2)).mean() / 255, luminance.std() / 255,
        (rgb.min(axis=2) > 235).mean(), (rgb.max(axis=2) < 20).mean(),
        (dx.mean() + dy.mean()) / 255,
    ], dtype=np.float32)


def file_name(source: str) -> str:
    """The last part of a path or URL ("" for stdin and data: URLs)."""
    if source.startswith("data:") or source == "-":
        return ""
    return Path(urlsplit(source).path if "://" in source else source).name


def decoration_rule(picture: Image.Image, source: str) -> str | None:
    """Why the image is unmistakably decoration, or None: 1-2 px thin, one flat colour, a spacer's name."""
    width, height = picture.size
    if width <= 2 or height <= 2:
        return f"a {width}×{height} image is a spacer or a rule, never content"
    if all(high - low <= FLAT_SPREAD for low, high in picture.getextrema()):
        return "a single flat colour"
    if SPACER_NAME.search(file_name(source)):
        return f"{file_name(source)!r} is a spacer's name"
    return None


@dataclass
class Kind:
    name: str  # one of KINDS, or UNKNOWN
    rule: str | None = None  # the decoration rule that decided it, when one did
    second: str | None = None  # the head's next likeliest kind, photo aside: what `instead` turns it into
    was: str | None = None  # the head's first kind, where what was found in the image overruled it

    def instead(self) -> Kind:
        """The second kind, for an image whose first kind the evidence did not bear out (text, no words)."""
        return Kind(self.second, was=self.name)

    def note(self) -> str:
        """The kind, for a reason: 'an icon or logo', 'decoration (a single flat colour)'."""
        if self.rule:
            return f"{NAMES[self.name]} ({self.rule})"
        if self.was:
            return f"{NAMES[self.name]} (taken for {NAMES[self.was]} first, but OCR read no words in it)"
        if self.name == UNKNOWN:
            return f"kind unknown (the bundle has no {HEAD_FILE}): handled as before, as a photo"
        return NAMES[self.name]


class KindHead:
    """kinds.npz: a one-hidden-layer MLP on [pooled, image_stats], standardised first."""

    def __init__(self, arrays: dict[str, np.ndarray], digest: str):
        self.labels = [str(x) for x in arrays["labels"]]
        self.mean, self.std = arrays["mean"], arrays["std"]
        self.w1, self.b1, self.w2, self.b2 = arrays["w1"], arrays["b1"], arrays["w2"], arrays["b2"]
        self.photo_threshold = float(arrays["photo_threshold"])
        self.digest = digest

    def probabilities(self, pooled: np.ndarray, stats: np.ndarray) -> np.ndarray:
        x = (np.concatenate([pooled, stats], axis=1) - self.mean) / self.std
        logits = np.maximum(x @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def classify(self, pooled: np.ndarray, stats: np.ndarray) -> list[Kind]:
        """Photo when its probability clears photo_threshold (photos are not starved), else the likeliest;
        each with the next likeliest kind other than photo as its `second`."""
        photo = self.labels.index("photo")
        found = []
        for p in self.probabilities(pooled, stats):
            index = np.arange(len(p))
            others = np.where(index == photo, -1.0, p)
            first = photo if p[photo] >= self.photo_threshold else int(others.argmax())
            rest = np.where(index == first, -1.0, others)
            second = self.labels[int(rest.argmax())] if rest.max() >= 0 else None
            found.append(Kind(self.labels[first], second=second))
        return found


def load_head(bundle_dir: Path, meta: dict) -> KindHead | None:
    """The bundle's head, None when it has none; ModelError when it has one that cannot be used."""
    path = Path(bundle_dir) / HEAD_FILE
    found = read_arrays(path)
    if found is None:
        return None
    problem = head_problem(found[0], meta)
    if problem:
        raise ModelError(f"{path}: {problem}")
    return KindHead(*found)


def head_problem(arrays: dict[str, np.ndarray], meta: dict) -> str | None:
    needed = {"labels", "stats", "encoder", "mean", "std", "w1", "b1", "w2", "b2", "photo_threshold"}
    if not needed <= arrays.keys():
        return f"missing {', '.join(sorted(needed - arrays.keys()))}"
    if tuple(str(x) for x in arrays["stats"]) != STAT_NAMES:
        return "trained on other image statistics than this alttext computes"
    if str(arrays["encoder"]) != meta.get("encoder"):
        return f"trained on encoder {arrays['encoder']}, the bundle has {meta.get('encoder')}"
    labels = [str(x) for x in arrays["labels"]]
    if not set(labels) <= set(KINDS) or "photo" not in labels or len(labels) != arrays["w2"].shape[1]:
        return f"labels {labels} are not image kinds with photo among them"
    if arrays["w1"].shape[0] != arrays["mean"].shape[-1]:
        return "weights and standardisation disagree in size"
    return None


def parse_actions(pairs: list[str]) -> dict[str, str]:
    """KIND=ACTION overrides on top of DEFAULT_ACTIONS; ValueError names what is wrong."""
    actions = dict(DEFAULT_ACTIONS)
    for pair in pairs:
        kind, _, action = pair.partition("=")
        if kind not in actions:
            raise ValueError(f"{pair!r}: no kind {kind!r} (kinds: {', '.join(actions)})")
        if action not in ACTIONS:
            raise ValueError(f"{pair!r}: no action {action!r} (actions: {', '.join(ACTIONS)})")
        actions[kind] = action
    return actions
