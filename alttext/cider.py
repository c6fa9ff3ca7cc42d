"""CIDEr-D as the COCO caption scorer computes it, but with the reference side cooked once.

Used by consensus re-ranking at run time, and in training for choosing checkpoints on the dev
split and as the reward of self-critical training, where the COCO scorer's per-call set-up would
dominate. Equal to pycocoevalcap's Cider (a test checks).
"""

from __future__ import annotations

import math
from collections import Counter

N = 4
SIGMA = 6.0


def ngrams(words: list[str]) -> Counter:
    return Counter(tuple(words[i : i + k]) for k in range(1, N + 1) for i in range(len(words) - k + 1))


class Postings:
    """One group of cooked reference sentences (CiderD.vectors): their norms and lengths, and each
    n-gram's postings, (sentence in the group, weight)."""

    def __init__(self, vectors: list):
        self.norms = [norm for _, norm, _ in vectors]
        self.lengths = [length for _, _, length in vectors]
        self.postings: dict[tuple, list[tuple[int, float]]] = {}
        for i, (vec, _, _) in enumerate(vectors):
            for grams in vec:
                for gram, w in grams.items():
                    self.postings.setdefault(gram, []).append((i, w))


class References:
    """Reference sentences in groups of Postings, numbered through, so that a sentence is compared only
    with the references that share an n-gram with it. Re-ranking passes one group per neighbour photo,
    cooked once however often the photo recurs as a neighbour."""

    def __init__(self, groups: list[Postings]):
        self.groups = groups
        self.offsets = [sum(len(g.norms) for g in groups[:k]) for k in range(len(groups))]
        self.norms = [norm for g in groups for norm in g.norms]
        self.lengths = [length for g in groups for length in g.lengths]
        self.count = len(self.norms)


class CiderD:
    def __init__(self, refs: dict[object, list[list[str]]], documents: list[list[list[str]]] | None = None):
        """refs: image id -> reference sentences as word lists. Document frequencies come from
        `documents` (each the sentences of one image), by default from refs' own."""
        documents = list(refs.values()) if documents is None else documents
        self.df: Counter = Counter()
        for sentences in documents:
            self.df.update({g for s in sentences for g in ngrams(s)})
        self.log_n = math.log(float(len(documents)))
        self.refs = {key: References([Postings(self.vectors(sentences))]) for key, sentences in refs.items()}

    def vectors(self, sentences: list[list[str]]) -> list:
        """Reference sentences, cooked (for References)."""
        return [self._vector(ngrams(s)) for s in sentences]

    def _vector(self, counts: Counter):
        vec: list[dict] = [{} for _ in range(N)]
        norm = [0.0] * N
        length = 0
        for gram, tf in counts.items():
            n = len(gram) - 1
            w = tf * (self.log_n - math.log(max(1.0, self.df[gram])))
            vec[n][gram] = w
            norm[n] += w * w
            if n == 1:  # the reference implementation measures length in bigrams
                length += tf
        return vec, [math.sqrt(x) for x in norm], length

    def score(self, key, words: list[str]) -> float:
        return self.similarity(words, self.refs[key])

    def similarity(self, words: list[str], refs: References) -> float:
        """CIDEr-D of one sentence against references."""
        vec_h, norm_h, len_h = self._vector(ngrams(words))
        dots: dict[int, list[float]] = {}  # only the sentences that share an n-gram with this one
        for n, grams in enumerate(vec_h):
            for gram, w in grams.items():
                for offset, group in zip(refs.offsets, refs.groups):
                    for i, w_r in group.postings.get(gram, ()):
                        dots.setdefault(offset + i, [0.0] * N)[n] += min(w, w_r) * w_r
        total = 0.0
        for i in sorted(dots):
            norm_r = refs.norms[i]
            penalty = math.exp(-((len_h - refs.lengths[i]) ** 2) / (2 * SIGMA**2))
            for n in range(N):
                if norm_h[n] and norm_r[n]:
                    total += dots[i][n] / (norm_h[n] * norm_r[n]) * penalty
        return total / N / refs.count * 10.0

    def corpus(self, hyps: dict[object, list[str]]) -> float:
        return sum(self.score(k, h) for k, h in hyps.items()) / len(hyps)
