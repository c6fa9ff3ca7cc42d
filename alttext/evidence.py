"""What a photo's alt text may rest on: the objects the detector and the ImageNet head see, each
against its own per-class threshold (model.json "evidence", chosen on dev data by
training/evidence_tune.py).

A caption is written only when every COCO object it names is supported; otherwise, or when there is
no caption, the objects the evidence is sure of make a short sentence; when nothing is sure, nothing
is written and a person is asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alttext.objects import SUPERCATEGORY, objects_named
from alttext.wording import neutral, sentence


@dataclass
class Evidence:
    """One photo's evidence: detector box scores per COCO category (best first), the ImageNet
    head's probability per COCO category, and its likeliest nameable classes (shown to people as
    suggestions, never written on their own: most have no measured precision here)."""

    boxes: dict[str, list[float]] = field(default_factory=dict)
    imagenet: dict[str, float] = field(default_factory=dict)
    classes: list[tuple[str, float]] = field(default_factory=list)

    def detector_score(self, category: str) -> float:
        return self.boxes.get(category, [0.0])[0]

    def detector_scores(self) -> dict[str, float]:
        return {c: scores[0] for c, scores in self.boxes.items() if scores}

    def as_dict(self) -> dict:
        """{"detector": {category: box scores of 0.1 and more}, "imagenet": {category: probability},
        "imagenet_classes": [[noun, probability], ...]}."""
        boxes = {c: [round(s, 3) for s in scores if s >= 0.1] for c, scores in self.boxes.items()}
        return {"detector": {c: s for c, s in boxes.items() if s},
                "imagenet": {c: round(p, 3) for c, p in self.imagenet.items()},
                "imagenet_classes": [[noun, round(p, 3)] for noun, p in self.classes]}

    @classmethod
    def from_dict(cls, found: dict) -> Evidence:
        return cls(dict(found.get("detector", {})), dict(found.get("imagenet", {})))


@dataclass
class Policy:
    """Per-class thresholds ("*" for the others): support lets a caption's object stand, sure lets
    an object be named on its own; count is the box score that counts an instance. A rival margin
    (None: no such rule) sets aside a source's claim when that source scores a look-alike from the
    same COCO supercategory within the margin of it (a truck at 0.60 beside a bus at 0.50)."""

    support_detector: dict[str, float]
    support_imagenet: dict[str, float]
    sure_detector: dict[str, float]
    sure_imagenet: dict[str, float]
    count: dict[str, float]
    max_objects: int = 3
    min_caption_confidence: float = 0.0
    support_rival_margin: float | None = None
    sure_rival_margin: float | None = None

    @classmethod
    def from_meta(cls, meta: dict) -> Policy | None:
        found = meta.get("evidence")
        if not found:
            return None
        return cls(found["support"]["detector"], found["support"]["imagenet"], found["sure"]["detector"],
                   found["sure"]["imagenet"], found["count"], int(found.get("max_objects", 3)),
                   float(found.get("min_caption_confidence", 0.0)), found.get("support_rival_margin"),
                   found.get("sure_rival_margin"))

    def as_meta(self) -> dict:
        return {"support": {"detector": self.support_detector, "imagenet": self.support_imagenet},
                "sure": {"detector": self.sure_detector, "imagenet": self.sure_imagenet},
                "count": self.count, "max_objects": self.max_objects,
                "min_caption_confidence": self.min_caption_confidence,
                "support_rival_margin": self.support_rival_margin, "sure_rival_margin": self.sure_rival_margin}


def threshold(table: dict[str, float], category: str) -> float:
    return table.get(category, table.get("*", 2.0))


def rival(scores: dict[str, float], category: str, margin: float | None) -> str | None:
    """A look-alike of the category (same COCO supercategory) scored within `margin` of it, if any."""
    group = SUPERCATEGORY.get(category)
    if margin is None or group is None:
        return None
    bar = scores.get(category, 0.0) - margin
    return next((c for c, s in scores.items() if c != category and SUPERCATEGORY.get(c) == group and s >= bar), None)


def seen(evidence: Evidence, category: str, detector: dict[str, float], imagenet: dict[str, float],
         rival_margin: float | None = None) -> str | None:
    """Which source sees the category above its threshold and no look-alike near it ("detector 0.91"),
    None when none does."""
    for source, scores, table in (("detector", evidence.detector_scores(), detector),
                                  ("ImageNet", evidence.imagenet, imagenet)):
        score = scores.get(category, 0.0)
        if score >= threshold(table, category) and not rival(scores, category, rival_margin):
            return f"{source} {score:.2f}"
    return None


def how_many(evidence: Evidence, category: str, policy: Policy) -> int:
    """Instances counted by the boxes over the count threshold, at least one (weaker boxes are not
    counted: "a cup" is still true where there are two, "two cups" is not where there is one)."""
    return max(1, sum(s >= threshold(policy.count, category) for s in evidence.boxes.get(category, [])))


def margin(score: float, bar: float) -> float:
    """How far a score clears its threshold, as a share of the way from the threshold to 1."""
    return (score - bar) / max(1.0 - bar, 1e-6)


def sure_objects(evidence: Evidence, policy: Policy) -> list[tuple[str, str]]:
    """(category, why) of the objects the evidence is sure of, the clearest first (by how far a source
    clears the class's threshold, so that the ImageNet head's sure cat outranks a detector's weak person)."""
    categories = set(evidence.boxes) | set(evidence.imagenet)
    found = [(c, why) for c in categories
             if (why := seen(evidence, c, policy.sure_detector, policy.sure_imagenet, policy.sure_rival_margin))]
    clearance = {c: max(margin(evidence.detector_score(c), threshold(policy.sure_detector, c)),
                        margin(evidence.imagenet.get(c, 0.0), threshold(policy.sure_imagenet, c)))
                 for c, _ in found}
    found.sort(key=lambda item: (-clearance[item[0]], item[0]))
    return found[: policy.max_objects]


@dataclass
class Verdict:
    """What the evidence allows: alt (None: nothing sure), basis ("verified caption", "objects" or
    "caption" when the caption names no object to check), and why, for the reason."""

    alt: str | None
    basis: str | None
    why: str


def decide(caption: str | None, confidence: float, evidence: Evidence, policy: Policy) -> Verdict:
    named = sorted(set(objects_named(caption))) if caption else []
    support = {c: seen(evidence, c, policy.support_detector, policy.support_imagenet, policy.support_rival_margin)
               for c in named}
    missing = [c for c, why in support.items() if why is None]
    if caption and named and not missing and confidence >= policy.min_caption_confidence:
        why = ", ".join(f"{c} ({w})" for c, w in support.items())
        return Verdict(neutral(caption), "verified caption", f"the caption's objects are seen: {why}")
    if caption and not named:
        return Verdict(neutral(caption), "caption", "the caption names no object the evidence can check")
    doubt = (f"the caption names {', '.join(missing)}, which the evidence does not show" if missing
             else "the caption's confidence is too low" if caption else "no caption")
    sure = sure_objects(evidence, policy)
    if not sure:
        return Verdict(None, None, f"{doubt}, and no object is sure")
    alt = sentence([(c, how_many(evidence, c, policy)) for c, _ in sure])
    return Verdict(alt, "objects", f"{doubt}; objects seen: " + ", ".join(f"{c} ({w})" for c, w in sure))
