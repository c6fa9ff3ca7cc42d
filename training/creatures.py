"""Which creatures (animals that COCO has no category for, as the ImageNet head names them: "monkey",
"lizard") a text names, so that an alt naming one can be judged against what a photo's captions say.

A creature is named by its own name, by an ImageNet lemma of one of its classes ("macaque",
"tarantula"; a lemma that two classes share, "panda", names neither) or by a common word for one of
them (ALIASES: "chameleon", "hippo"), singular or plural; "fly" and "cricket" are left out, as
captions mostly mean the verb and the game ("A snowboarder flies through the air."), and so is
"hedgehog", which WordNet gives the porcupine class but which names another animal. The longest name
wins, so "sea lion" is not also a lion.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

from export.imagenet import read_classes

ALIASES = {"lizard": ["chameleon", "gecko", "iguana"], "snake": ["viper", "cobra", "python", "rattlesnake"],
           "fish": ["salmon", "clownfish"], "ray": ["manta"], "salamander": ["newt"], "turtle": ["tortoise"],
           "whale": ["orca"], "hippopotamus": ["hippo"], "chimpanzee": ["chimp"], "rabbit": ["bunny"],
           "pig": ["piglet"], "crocodile": ["croc"], "camel": ["dromedary"], "bee": ["bumblebee", "honeybee"],
           "beetle": ["ladybird"]}


NOT_CREATURES = {"fly", "cricket", "hedgehog"}


def forms(word: str) -> list[str]:
    found = [word, word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s")]
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        found.append(word[:-1] + "ies")
    if word.endswith("f"):
        found.append(word[:-1] + "ves")
    return found


@cache
def names() -> dict[str, str]:
    """Every form of every name -> the creature it names."""
    rows = read_classes()
    lemmas = [[w.strip().lower() for w in r["lemmas"].split(",")] for r in rows]
    shared = Counter(w for row in lemmas for w in set(row))
    found = {}
    for r, row in zip(rows, lemmas):
        if r["creature"]:
            own = [r["creature"], *ALIASES.get(r["creature"], ())]
            for word in own + [w for w in row if shared[w] == 1 and w not in NOT_CREATURES]:
                found.update({form: r["creature"] for form in forms(word)})
    return found


@cache
def pattern() -> re.Pattern:
    alternatives = sorted(names(), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(map(re.escape, alternatives)) + r")\b")


def creatures_in(text: str) -> list[str]:
    """The creatures the text names, in order."""
    return list(creatures_found(text))


@cache  # the tuner judges the same alts under thousands of policies
def creatures_found(text: str) -> tuple[str, ...]:
    return tuple(names()[m.group(1)] for m in pattern().finditer(text.lower()))


def without_creatures(text: str) -> str:
    """The text with its creatures' names taken out ("A red panda." -> "A ."), so that what is left
    names COCO objects only (CHAIR's synonyms take a red panda for a bear)."""
    return pattern().sub(" ", text.lower())
