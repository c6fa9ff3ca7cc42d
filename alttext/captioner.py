"""Captions from a model bundle with ONNX Runtime: feed_image, inference_step, a beam search
batched over images x beams, and the choice among the finished beams (re-ranked by consensus with
the nearest training photos' captions when the bundle has neighbours.npz). With model.json's
"mirror_candidates", the mirrored photo's finished beams are candidates too."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from alttext.bundle import Bundle
from alttext.consensus import load_consensus
from alttext.images import normalise
from alttext.text import clean_caption

NEG = -1e9


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the k highest scores, best first (a full sort of images x beams x
    vocabulary per step cost as much as the decoder)."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def caption_confidence(model: dict | None, word_probability: float, agreement: float | None) -> float:
    """With model.json's "confidence" (a logistic model that training.calibrate fits on dev) and
    neighbours: the estimated chance that the caption is about the photo, from how sure the model was
    of its words and how well they agree with what people wrote about the nearest training photos.
    Otherwise the geometric mean of the words' probabilities."""
    if model is None or agreement is None:
        return word_probability
    z = (model["intercept"] + model["log_word_probability"] * math.log(max(word_probability, 1e-12))
         + model["agreement"] * agreement)
    return 1.0 / (1.0 + math.exp(-z))


@dataclass
class Caption:
    text: str  # cleaned sentence, ready to be an alt text
    confidence: float  # 0..1, see caption_confidence
    words: list[str]
    word_probability: float = 0.0  # geometric mean of the chosen words' probabilities
    agreement: float | None = None  # CIDEr-D against the nearest training photos' captions


class Captioner:
    def __init__(self, bundle: Bundle, beam_size: int | None = None, rerank: bool = True,
                 mirror: bool | None = None):
        self.bundle = bundle
        meta = bundle.meta
        self.vocab = meta["vocab"]
        self.special = meta["special_tokens"]
        self.max_length = int(meta["max_length"])
        self.beam_size = int(beam_size or meta.get("beam_size", 3))
        self.length_penalty = float(meta.get("length_penalty", 1.0))
        self.mirror = bool(meta.get("mirror_candidates", False)) if mirror is None else mirror
        self.confidence_model: dict | None = meta.get("confidence")
        self.input_size = int(meta["input_size"])
        self._decoder_inputs = {i.name for i in bundle.decoder.get_inputs()}
        self.consensus = load_consensus(bundle.path, meta) if rerank else None

    def feed_image(self, pixels: np.ndarray):
        """(B, S, S, 3) uint8 -> feats, h, c, pooled."""
        return self.bundle.encoder.run(None, {"images": normalise(pixels, self.bundle.meta)})

    def inference_step(self, tokens: np.ndarray, h: np.ndarray, c: np.ndarray, feats: np.ndarray):
        """One decoder step for N sequences -> log_probs (N, V), h, c."""
        inputs = {"tokens": tokens.astype(np.int64), "h": h, "c": c, "feats": feats}
        feed = {k: v for k, v in inputs.items() if k in self._decoder_inputs}
        log_probs, h, c, _ = self.bundle.decoder.run(None, feed)
        return log_probs, h, c

    @property
    def decoding(self) -> str:
        """The settings that change which caption comes out, for caches to be keyed by."""
        return f"beam{self.beam_size}-lp{self.length_penalty:g}" + ("-mirror" if self.mirror else "")

    def caption(self, pixels: np.ndarray) -> list[Caption]:
        return self.captions(pixels, *self.feed_image(pixels))

    def captions(self, pixels: np.ndarray, feats: np.ndarray, h: np.ndarray, c: np.ndarray,
                 pooled: np.ndarray) -> list[Caption]:
        """Captions of images already fed (feed_image), so that its `pooled` can serve other ends."""
        if self.mirror:
            # A mirrored photo shows the same scene, and the model words some photos better mirrored:
            # both searches' captions are candidates for the neighbours to choose among (README: "Mirror candidates").
            mirrored = self.feed_image(np.ascontiguousarray(pixels[:, :, ::-1]))
            feats, h, c = (np.concatenate([a, b]) for a, b in zip((feats, h, c), mirrored))
        finished = self.beam_search(feats, h, c)
        if self.mirror:
            finished = [a + b for a, b in zip(finished[: len(pixels)], finished[len(pixels) :])]
        references = self.consensus.references(pooled) if self.consensus else [None] * len(finished)
        return [self._caption(*self._choose(beams, refs)) for beams, refs in zip(finished, references)]

    def _caption(self, ids: list[int], token_logps: list[float], agreement: float | None) -> Caption:
        words = [self.vocab[i] for i in ids]
        word_probability = float(np.exp(np.mean(token_logps))) if token_logps else 0.0
        return Caption(clean_caption(words), caption_confidence(self.confidence_model, word_probability, agreement),
                       words, word_probability, agreement)

    def beam_search(self, feats, h, c):
        """Per image, its k beams: (word ids without <end>, log-probability of each emitted token incl. <end>)."""
        images, k = feats.shape[0], self.beam_size
        vocab_size = len(self.vocab)
        start, end = self.special["start"], self.special["end"]
        banned = [self.special[n] for n in ("pad", "start", "unk")]
        feats = np.repeat(feats, k, axis=0)
        h, c = np.repeat(h, k, axis=0), np.repeat(c, k, axis=0)
        scores = np.full((images, k), NEG, np.float32)
        scores[:, 0] = 0.0  # one live beam per image at first, so the k beams start out distinct
        tokens = np.full((images, k), start, np.int64)
        history = np.zeros((images, k, 0), np.int64)
        logps = np.zeros((images, k, 0), np.float32)
        finished = np.zeros((images, k), bool)
        for _ in range(self.max_length + 1):
            log_probs, h, c = self.inference_step(tokens.reshape(-1), h, c, feats)
            log_probs = log_probs.reshape(images, k, vocab_size).copy()
            log_probs[:, :, banned] = NEG
            if history.shape[2]:  # no word twice in a row: a decoding loop, never a sentence
                np.put_along_axis(log_probs, history[:, :, -1:], NEG, axis=2)
            log_probs[finished] = NEG
            log_probs[finished, end] = 0.0  # a finished beam stays as it is
            total = (scores[:, :, None] + log_probs).reshape(images, -1)
            best = top_k(total, k)
            beam, word = best // vocab_size, best % vocab_size
            rows = (np.arange(images)[:, None] * k + beam).reshape(-1)
            step_logp = np.take_along_axis(log_probs.reshape(images, -1), best, axis=1)
            scores = np.take_along_axis(total, best, axis=1)
            was_finished = np.take_along_axis(finished, beam, axis=1)
            history = np.concatenate([np.take_along_axis(history, beam[:, :, None], axis=1), word[:, :, None]], axis=2)
            logps = np.concatenate([np.take_along_axis(logps, beam[:, :, None], axis=1),
                                    np.where(was_finished, np.nan, step_logp)[:, :, None]], axis=2)
            finished = was_finished | (word == end)
            h, c, tokens = h[rows], c[rows], word
            if finished.all():
                break
        return [self._finished(history[i], logps[i]) for i in range(images)]

    def _finished(self, history: np.ndarray, logps: np.ndarray) -> list[tuple[list[int], list[float]]]:
        beams = []
        for ids, lp in zip(history.tolist(), logps):
            lp = lp[~np.isnan(lp)]
            n = len(lp)
            beams.append((ids[: n - 1] if ids[n - 1] == self.special["end"] else ids[:n], lp.tolist()))
        return beams

    def _choose(self, beams: list[tuple[list[int], list[float]]], references: list | None):
        """The beam with the best length-normalised log-probability, plus, with neighbours, weight x
        its agreement (CIDEr-D) with their captions; and that agreement (None without neighbours)."""
        agreement: dict[tuple, float] = {}  # the two searches often finish the same caption

        def score(beam):
            ids, lp = beam
            total = sum(lp) / max(len(lp), 1) ** self.length_penalty
            if references is not None:
                key = tuple(ids)
                if key not in agreement:
                    agreement[key] = self.consensus.agreement([self.vocab[i] for i in ids], references)
                total += self.consensus.weight * agreement[key]
            return total

        ids, lp = max(beams, key=score)
        return ids, lp, agreement.get(tuple(ids))
