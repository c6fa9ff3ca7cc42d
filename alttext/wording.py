"""How a photo's alt text is worded: captions with no guess at gender or age, and short sentences
from the objects the evidence is sure of ("Two people and a dog.")."""

from __future__ import annotations

import re

# Words that guess gender or age from appearance, and what is written instead.
ONE_PERSON = ("man", "woman", "boy", "girl", "lady", "guy", "gentleman", "child", "kid", "toddler", "teenager",
              "teen")
PEOPLE = ("men", "women", "boys", "girls", "ladies", "guys", "gentlemen", "children", "kids", "toddlers",
          "teenagers", "teens")
PRONOUNS = {"his": "their", "her": "their", "he": "they", "she": "they", "himself": "themself",
            "herself": "themself"}
AGE_WORDS = ("young", "little", "small", "old", "older", "elderly", "teenage", "adult")
_AGE = "|".join(AGE_WORDS)
_PERSON_WORDS = "|".join(ONE_PERSON + PEOPLE)
_PERSON = re.compile(rf"\b(?:(?:{_AGE})\s+)*({_PERSON_WORDS})\b", re.I)
_PRONOUN = re.compile(rf"\b({'|'.join(PRONOUNS)})\b", re.I)
_PAIR = re.compile(r"\b(?:a|one) person and (?:a|one|another) person\b", re.I)
_THE_PAIR = re.compile(r"\bthe person and the person\b", re.I)

NUMBERS = {2: "two", 3: "three", 4: "four"}
IRREGULAR_PLURALS = {"person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep", "skis": "skis",
                     "bus": "buses", "bench": "benches", "couch": "couches", "sandwich": "sandwiches",
                     "toothbrush": "toothbrushes", "wine glass": "wine glasses", "scissors": "scissors"}
# COCO category -> the noun a person would say
NOUNS = {"sports ball": "ball", "dining table": "table", "tv": "television", "cell phone": "phone",
         "hair drier": "hair dryer", "remote": "remote control", "skis": "skis", "motorcycle": "motorcycle",
         "teddy bear": "teddy bear", "potted plant": "potted plant"}
PAIR_NOUNS = {"skis": "pair of skis", "scissors": "pair of scissors"}


def _person(match: re.Match) -> str:
    word = match.group(1)
    replacement = "people" if word.lower() in PEOPLE else "person"
    return replacement.capitalize() if match.group(0)[0].isupper() else replacement


def _pronoun(match: re.Match) -> str:
    word = match.group(1)
    replacement = PRONOUNS[word.lower()]
    return replacement.capitalize() if word[0].isupper() else replacement


def neutral(sentence: str) -> str:
    """The caption with every word that guesses gender or age replaced ("A young girl in her pink
    dress" -> "A person in their pink dress"); two single people become "two people"."""
    text = _PERSON.sub(_person, sentence)
    text = _PRONOUN.sub(_pronoun, text)
    text = _PAIR.sub(lambda m: "Two people" if m.group(0)[0].isupper() else "two people", text)
    return _THE_PAIR.sub(lambda m: "The two people" if m.group(0)[0].isupper() else "the two people", text)


def noun(category: str) -> str:
    return NOUNS.get(category, category)


def plural(word: str) -> str:
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def counted(category: str, count: int) -> str:
    """'a dog', 'two dogs', 'a group of people', 'many cars'."""
    word = noun(category)
    if count == 1:
        word = PAIR_NOUNS.get(category, word)
        return f"{article(word)} {word}"
    if count in NUMBERS:
        return f"{NUMBERS[count]} {plural(word)}"
    return f"a group of {plural(word)}" if category == "person" else f"many {plural(word)}"


def sentence(parts: list[tuple[str, int]]) -> str:
    """[('person', 2), ('dog', 1)] -> 'Two people and a dog.'"""
    phrases = [counted(category, count) for category, count in parts]
    text = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return text[0].upper() + text[1:] + "."
