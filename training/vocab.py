"""Tokenisation and the vocabulary (saved into the bundle's model.json)."""

from __future__ import annotations

import re
from collections import Counter

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lower case words; punctuation dropped (as the COCO scorer's tokenizer does)."""
    return _WORD.findall(text.lower())


class Vocabulary:
    def __init__(self, words: list[str]):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.pad, self.start, self.end, self.unk = (self.index[s] for s in SPECIALS)

    @classmethod
    def build(cls, captions: list[str], min_count: int = 5) -> Vocabulary:
        counts = Counter(w for c in captions for w in tokenize(c))
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, caption: str, max_len: int) -> list[int]:
        """<start> w1 .. wn <end>, with at most max_len words."""
        ids = [self.index.get(w, self.unk) for w in tokenize(caption)[:max_len]]
        return [self.start] + ids + [self.end]

    def decode(self, ids) -> str:
        words = []
        for i in ids:
            if i == self.end:
                break
            if i not in (self.start, self.pad):
                words.append(self.words[i])
        return " ".join(words)
