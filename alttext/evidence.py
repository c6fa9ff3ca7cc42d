"""What a photo's alt text may rest on: the objects the detector and the ImageNet head see and the
people the pose model finds, each against its own per-class threshold (model.json "evidence", chosen
on dev data by training/evidence_tune.py).

A caption is written only when every COCO object it names is supported; otherwise, or when there is
no caption, the objects the evidence is sure of make a short sentence, or, where no COCO object is
even supported, the creature the ImageNet head is sure of (an animal COCO has no category for: "A
monkey."); when nothing is sure, nothing is written and a person is asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alttext.objects import ANIMALS, objects_named
from alttext.wording import neutral, sentence


@dataclass
class Evidence:
    """One photo's evidence: detector box scores per COCO category (best first), the ImageNet
    head's probability per COCO category, per creature and that it shows any animal, its likeliest
    nameable classes (shown to people as suggestions, never written on their own: most have no
    measured precision here), the pose model's body scores (best first), and a closer look: for the
    categories whose best box was cropped, the ImageNet head's probability per COCO category in that
    crop (alttext.closer)."""

    boxes: dict[str, list[float]] = field(default_factory=dict)
    imagenet: dict[str, float] = field(default_factory=dict)
    classes: list[tuple[str, float]] = field(default_factory=list)
    animal: float = 0.0
    bodies: list[float] = field(default_factory=list)
    creatures: dict[str, float] = field(default_factory=dict)
    crops: dict[str, dict[str, float]] = field(default_factory=dict)

    def detector_score(self, category: str) -> float:
        return self.boxes.get(category, [0.0])[0]

    def categories(self) -> set[str]:
        """The COCO categories some source gives a score."""
        return set(self.boxes) | set(self.imagenet) | ({"person"} if self.bodies else set())

    def score(self, source: str, category: str) -> float:
        """What one source ("detector", "imagenet", "closer" or "pose") gives the category."""
        if source == "detector":
            return self.detector_score(category)
        if source == "imagenet":
            return self.imagenet.get(category, 0.0)
        if source == "closer":
            return self.crops.get(category, {}).get(category, 0.0)
        return self.bodies[0] if category == "person" and self.bodies else 0.0

    def as_dict(self) -> dict:
        """{"detector": {category: box scores of 0.1 and more}, "imagenet": {category: probability},
        "imagenet_animal": probability, "imagenet_creatures": {creature: probability},
        "imagenet_classes": [[noun, probability], ...], "pose": [body scores of 0.1 and more],
        "closer": {category cropped: {category: probability in the crop}}}."""
        boxes = {c: [round(s, 3) for s in scores if s >= 0.1] for c, scores in self.boxes.items()}
        return {"detector": {c: s for c, s in boxes.items() if s},
                "imagenet": {c: round(p, 3) for c, p in self.imagenet.items()},
                "imagenet_animal": round(self.animal, 3),
                "imagenet_creatures": {c: round(p, 3) for c, p in self.creatures.items()},
                "imagenet_classes": [[noun, round(p, 3)] for noun, p in self.classes],
                "pose": [round(s, 3) for s in self.bodies if s >= 0.1],
                "closer": {c: {k: round(p, 3) for k, p in seen.items()} for c, seen in self.crops.items()}}

    @classmethod
    def from_dict(cls, found: dict) -> Evidence:
        return cls(dict(found.get("detector", {})), dict(found.get("imagenet", {})),
                   animal=float(found.get("imagenet_animal", 0.0)), bodies=list(found.get("pose", [])),
                   creatures=dict(found.get("imagenet_creatures", {})),
                   crops={c: dict(seen) for c, seen in found.get("closer", {}).items()})


@dataclass
class Policy:
    """Per-class thresholds of each source ("*" for the others; a source without a table sees
    nothing): support lets a caption's object stand, sure lets an object be named on its own; count
    is the box score that counts an instance. Each rule below is off when None.
    - Other animals sets aside a COCO animal when the ImageNet head gives at least that probability
      to animals of other classes (a llama, where the detector saw a dog).
    - Animals not boxed sets aside anything but a COCO animal when the ImageNet head gives at least
      that probability to animals and the detector boxes none (a macaque or a cat's face taken for a
      person, a chameleon for broccoli).
    - Rival animals sets aside a COCO animal when the detector gives another COCO animal at least that
      share of its score and the ImageNet head gives the animal less than animal confirmed (camels the
      detector calls a cow, a horse or a sheep).
    - Person alone is the detector score below which its person stands only where the pose model
      finds a body of at least pose agrees (pliers, a mountain, taken for a person).
    - Creature is the ImageNet head's probability at which a creature is named where no COCO object
      is supported."""

    support: dict[str, dict[str, float]]
    sure: dict[str, dict[str, float]]
    count: dict[str, float]
    max_objects: int = 3
    min_caption_confidence: float = 0.0
    other_animals: float | None = None
    animals_not_boxed: float | None = None
    rival_animals: float | None = None
    animal_confirmed: float = 0.0
    person_alone: float | None = None
    pose_agrees: float = 0.0
    creature: float | None = None

    @classmethod
    def from_meta(cls, meta: dict) -> Policy | None:
        found = meta.get("evidence")
        if not found:
            return None
        return cls(found["support"], found["sure"], found["count"], int(found.get("max_objects", 3)),
                   float(found.get("min_caption_confidence", 0.0)), found.get("other_animals"),
                   found.get("animals_not_boxed"), found.get("rival_animals"),
                   float(found.get("animal_confirmed", 0.0)), found.get("person_alone"),
                   float(found.get("pose_agrees", 0.0)), found.get("creature"))

    @property
    def looks_closer(self) -> bool:
        """Does a table use the crops of the detector's boxes (alttext.closer)?"""
        return "closer" in self.support or "closer" in self.sure

    def as_meta(self) -> dict:
        return {"support": self.support, "sure": self.sure, "count": self.count, "max_objects": self.max_objects,
                "min_caption_confidence": self.min_caption_confidence, "other_animals": self.other_animals,
                "animals_not_boxed": self.animals_not_boxed, "rival_animals": self.rival_animals,
                "animal_confirmed": self.animal_confirmed, "person_alone": self.person_alone,
                "pose_agrees": self.pose_agrees, "creature": self.creature}


ANIMAL_BOXED = 0.5  # a detector box at this score is an animal the detector sees (README: "Object detector")


def threshold(table: dict[str, float], category: str) -> float:
    return table.get(category, table.get("*", 2.0))


SOURCE_NAMES = {"detector": "detector", "imagenet": "ImageNet", "closer": "a closer look", "pose": "pose"}


def seen(evidence: Evidence, category: str, tables: dict[str, dict[str, float]], policy: Policy) -> str | None:
    """Which source sees the category above its threshold ("detector 0.91"), None when none does."""
    for source, name in SOURCE_NAMES.items():
        score = evidence.score(source, category)
        if source in tables and score >= threshold(tables[source], category) \
                and not body_missing(evidence, category, source, policy):
            return f"{name} {score:.2f}"
    return None


def body_missing(evidence: Evidence, category: str, source: str, policy: Policy) -> bool:
    """Is this a detector's weak person that the pose model does not find a body for?"""
    return (category == "person" and source == "detector" and policy.person_alone is not None
            and evidence.detector_score(category) < policy.person_alone
            and evidence.score("pose", category) < policy.pose_agrees)


def set_aside(evidence: Evidence, category: str, policy: Policy) -> str | None:
    """Why a claim of the category is set aside whatever its score, None when it is not: the ImageNet
    head takes the photo for an animal other than this COCO animal, or, where the category is not an
    animal, for an animal that the detector does not box (so that its person or its broccoli may be
    it); or the detector takes the animal for another one nearly as often, and the ImageNet head does
    not confirm it."""
    if category not in ANIMALS:
        if policy.animals_not_boxed is None or evidence.animal < policy.animals_not_boxed:
            return None
        boxed = max(evidence.detector_score(animal) for animal in ANIMALS) >= ANIMAL_BOXED
        return None if boxed else "the ImageNet head sees an animal"
    own = evidence.imagenet.get(category, 0.0)
    if policy.other_animals is not None and evidence.animal - own >= policy.other_animals:
        return "the ImageNet head sees another animal"
    if policy.rival_animals is not None and own < policy.animal_confirmed:
        rival = max((other for other in ANIMALS if other != category), key=evidence.detector_score)
        if 0.0 < evidence.detector_score(rival) >= policy.rival_animals * evidence.detector_score(category):
            return f"the detector also takes it for a {rival}, and the ImageNet head does not confirm it"
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
    found = [(c, why) for c in evidence.categories() if not set_aside(evidence, c, policy)
             and (why := seen(evidence, c, policy.sure, policy))]
    clearance = {c: max(margin(evidence.score(source, c), threshold(table, c)) for source, table in policy.sure.items())
                 for c, _ in found}
    found.sort(key=lambda item: (-clearance[item[0]], item[0]))
    return found[: policy.max_objects]


def sure_creature(evidence: Evidence, policy: Policy) -> tuple[str, float] | None:
    """The creature the ImageNet head gives the most, with its probability, where that reaches the
    policy's and no COCO object is even supported (a dolphin the detector weakly takes for a person:
    whatever the photo shows, it is not sure)."""
    if policy.creature is None or not evidence.creatures:
        return None
    if any(seen(evidence, c, policy.support, policy) and not set_aside(evidence, c, policy)
           for c in evidence.categories()):
        return None
    name = max(evidence.creatures, key=evidence.creatures.get)
    p = evidence.creatures[name]
    return (name, p) if p >= policy.creature else None


GUESS_FLOOR = 0.3  # the least score at which a reader who asks may hear an object named, as a guess
# the least score, from any source, of each object a caption names (unless supported) for the caption to
# be a reader's guess (chosen on dev: training.alt_eval's guesses; README "Photos")
GUESS_CAPTION = 0.2


def best_score(evidence: Evidence, category: str) -> float:
    """The most any source gives the category. A weak person the pose model finds no body for counts
    here: on dev, leaving such people out cost a third of the useful guesses on Flickr8k."""
    return max(evidence.score(source, category) for source in SOURCE_NAMES)


def likeliest(evidence: Evidence, policy: Policy) -> str | None:
    """The object or creature a source gives the most (not set aside), as a sentence, if at least
    GUESS_FLOOR: a guess where the caption names what the evidence does not show (the captioner's
    sentence about a gibbon is "a person climbing")."""
    scores = {c: best_score(evidence, c) for c in evidence.categories() if not set_aside(evidence, c, policy)}
    scores.update(evidence.creatures)
    best = max(sorted(scores), key=scores.get, default=None)  # ties (the int8 detector's 0.479s) by name
    return sentence([(best, 1)]) if best and scores[best] >= GUESS_FLOOR else None


@dataclass
class Verdict:
    """What the evidence allows: alt (None: nothing sure), basis ("verified caption", "objects" or
    "caption" when the caption names no object to check), why, for the reason, and, where nothing is
    written, a guess that a reader who asks may hear, hedged: the caption when each object it names
    is supported, or given at least GUESS_CAPTION by some source, and none is set aside; else the
    likeliest object or creature."""

    alt: str | None
    basis: str | None
    why: str
    guess: str | None = None


def decide(caption: str | None, confidence: float, evidence: Evidence, policy: Policy) -> Verdict:
    named = sorted(set(objects_named(caption))) if caption else []
    aside = {c: why for c in named if (why := set_aside(evidence, c, policy))}
    support = {c: None if c in aside else seen(evidence, c, policy.support, policy) for c in named}
    missing = [c for c, why in support.items() if why is None]
    if caption and named and not missing and confidence >= policy.min_caption_confidence:
        why = ", ".join(f"{c} ({w})" for c, w in support.items())
        return Verdict(neutral(caption), "verified caption", f"the caption's objects are seen: {why}")
    if caption and not named:
        return Verdict(neutral(caption), "caption", "the caption names no object the evidence can check")
    missing = [f"{c} ({aside[c]})" if c in aside else c for c in missing]
    doubt = (f"the caption names {', '.join(missing)}, which the evidence does not show" if missing
             else "the caption's confidence is too low" if caption else "no caption")
    sure = sure_objects(evidence, policy)
    if not sure and (creature := sure_creature(evidence, policy)):
        name, p = creature
        return Verdict(sentence([(name, 1)]), "objects", f"{doubt}, and no COCO object is sure; creature seen: "
                       f"{name} (ImageNet {p:.2f})")
    if not sure:
        fair = caption and all(c not in aside and (support[c] or best_score(evidence, c) >= GUESS_CAPTION)
                               for c in named)
        hint = neutral(caption) if fair else likeliest(evidence, policy)
        return Verdict(None, None, f"{doubt}, and no object is sure", hint)
    alt = sentence([(c, how_many(evidence, c, policy)) for c, _ in sure])
    return Verdict(alt, "objects", f"{doubt}; objects seen: " + ", ".join(f"{c} ({w})" for c, w in sure))
