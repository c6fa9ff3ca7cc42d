"""The encoder's ImageNet classifier (imagenet.npz in the bundle): a second, cheap source of what a
photo shows, read from the `pooled` feature that captioning computes anyway. Its 1,000 classes are
summed into the COCO categories they belong to (118 dog breeds are "dog"), so that it can support or
name the same objects as the detector, and into creatures: animals that COCO has no category for, by
the name a person would say (13 monkeys are "monkey", chameleons and geckos "lizard")."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alttext.bundle import read_arrays
from alttext.errors import ModelError

KEYS = ("weight", "bias", "nouns", "coco", "creatures", "never", "encoder")
ANIMAL_CLASSES = slice(0, 398)  # ImageNet's classes 0-397 are animals (WordNet's animal subtree): fish to pufferfish


class ImageNetHead:
    def __init__(self, arrays: dict[str, np.ndarray], digest: str):
        self.weight = arrays["weight"].astype(np.float32)
        self.bias = arrays["bias"].astype(np.float32)
        self.nouns = [str(n) for n in arrays["nouns"]]
        self.never = arrays["never"].astype(bool)
        self.categories, self.member = members([str(c) for c in arrays["coco"]])
        self.creatures, self.creature_member = members([str(c) for c in arrays["creatures"]])
        self.digest = digest

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        return pooled.astype(np.float32) @ self.weight + self.bias

    def probabilities(self, pooled: np.ndarray) -> np.ndarray:
        z = self.logits(pooled)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def category_scores(self, probabilities: np.ndarray) -> list[dict[str, float]]:
        """Per image, each COCO category's summed probability (only those above 0.01)."""
        return summed(probabilities @ self.member, self.categories)

    def creature_scores(self, probabilities: np.ndarray) -> list[dict[str, float]]:
        """Per image, each creature's summed probability (only those above 0.01)."""
        return summed(probabilities @ self.creature_member, self.creatures)

    def animal_scores(self, probabilities: np.ndarray) -> list[float]:
        """Per image, the probability that it shows an animal of any ImageNet class (a llama, a gorilla)."""
        return [float(p) for p in probabilities[:, ANIMAL_CLASSES].sum(axis=1)]

    def top(self, probabilities: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
        """Per image, the k likeliest classes that may be named, as (noun, probability)."""
        masked = np.where(self.never, 0.0, probabilities)
        order = np.argsort(-masked, axis=1)[:, :k]
        return [[(self.nouns[i], float(row[i])) for i in idx] for row, idx in zip(masked, order)]


def members(groups: list[str]) -> tuple[list[str], np.ndarray]:
    """The group names ("" is none) and the (1000, groups) matrix of which class adds to which group."""
    names = sorted({g for g in groups if g})
    return names, np.array([[g == name for name in names] for g in groups], dtype=np.float32)


def summed(sums: np.ndarray, names: list[str]) -> list[dict[str, float]]:
    return [{name: float(p) for name, p in zip(names, row) if p >= 0.01} for row in sums]


def load_imagenet(bundle_dir: Path, meta: dict) -> ImageNetHead | None:
    """The bundle's ImageNet head, None when it has none; ModelError when it does not fit the bundle."""
    path = bundle_dir / "imagenet.npz"
    found = read_arrays(path)
    if found is None:
        return None
    arrays, digest = found
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise ModelError(f"{path}: not an ImageNet head (missing {', '.join(missing)})")
    if str(arrays["encoder"]) != meta.get("encoder"):
        raise ModelError(f"{path}: made for encoder {arrays['encoder']}, the bundle's is {meta.get('encoder')}")
    if arrays["weight"].shape != (1280, 1000) or arrays["bias"].shape != (1000,):
        raise ModelError(f"{path}: weight must be (1280, 1000) and bias (1000,)")
    return ImageNetHead(arrays, digest)
