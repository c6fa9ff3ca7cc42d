"""Consensus re-ranking (Devlin et al. 2015, "Exploring nearest neighbor approaches for image
captioning"): of the captions the beam search finished, prefer the one that agrees best, by
CIDEr-D, with what people wrote about the training photos that look most like this one.

neighbours.npz in the bundle (written by training/consensus.py, README: "The model bundle") holds
those photos' pooled encoder features, projected and normalised, and their captions. The chosen
caption is always one the model wrote; the neighbours only help choose among them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from alttext.bundle import read_arrays
from alttext.cider import CiderD, Postings, References
from alttext.errors import ModelError

FILE = "neighbours.npz"
NEEDED = {"encoder", "mean", "projection", "keys", "captions", "caption_photo", "neighbours", "weight"}


class Consensus:
    def __init__(self, arrays: dict[str, np.ndarray], digest: str):
        self.mean = arrays["mean"].astype(np.float32)
        self.projection = arrays["projection"].astype(np.float32)
        self.keys = arrays["keys"].astype(np.float32)
        self.neighbours = min(int(arrays["neighbours"]), len(self.keys))
        self.weight = float(arrays["weight"])
        self.digest = digest
        sentences = arrays["captions"].tobytes().decode("utf-8").split("\n")
        self.by_photo: list[list[list[str]]] = [[] for _ in range(len(self.keys))]
        for photo, sentence in zip(arrays["caption_photo"].tolist(), sentences):
            self.by_photo[photo].append(sentence.split())
        self._scorer: CiderD | None = None
        # Photos recur as neighbours; their cooked captions take about 25 kB each, so keep the recent ones.
        self._cooked = functools.lru_cache(maxsize=1024)(self._cook)

    @property
    def scorer(self) -> CiderD:
        # Document frequencies over every training photo's captions take about a second: only when
        # a caption is first chosen, not at start-up.
        if self._scorer is None:
            self._scorer = CiderD({}, documents=self.by_photo)
        return self._scorer

    def references(self, pooled: np.ndarray) -> list[References]:
        """Per image: the captions of its nearest training photos (cosine on projected features)."""
        x = (pooled.astype(np.float32) - self.mean) @ self.projection
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        similarity = x @ self.keys.T
        nearest = np.argpartition(-similarity, self.neighbours - 1, axis=1)[:, : self.neighbours]
        return [References([self._cooked(photo) for photo in row.tolist()]) for row in nearest]

    def _cook(self, photo: int) -> Postings:
        return Postings(self.scorer.vectors(self.by_photo[photo]))

    def agreement(self, words: list[str], references: References) -> float:
        return self.scorer.similarity(words, references)


def load_consensus(bundle_dir: Path, meta: dict) -> Consensus | None:
    """The bundle's neighbours, None when it has none; ModelError when they cannot be used."""
    path = Path(bundle_dir) / FILE
    found = read_arrays(path)
    if found is None:
        return None
    arrays = found[0]
    if not NEEDED <= arrays.keys():
        raise ModelError(f"{path}: missing {', '.join(sorted(NEEDED - arrays.keys()))}")
    if str(arrays["encoder"]) != meta.get("encoder"):
        raise ModelError(f"{path}: made with encoder {arrays['encoder']}, the bundle has {meta.get('encoder')}")
    if arrays["projection"].shape[1] != arrays["keys"].shape[1] or len(arrays["keys"]) == 0:
        raise ModelError(f"{path}: projection and keys disagree in size")
    if int(arrays["neighbours"]) < 1:
        raise ModelError(f"{path}: neighbours must be at least 1, not {int(arrays['neighbours'])}")
    return Consensus(*found)
