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
BLOCK = 64  # columns per block in top_k
# --quality presets: the decoding settings each one overrides (README: "Speed").
QUALITY = {"default": {}, "fast": {"beam_size": 3, "mirror_candidates": False}}


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the k highest scores, best first. A row's k best lie in its k blocks
    of BLOCK columns with the highest maxima, so only those are searched: partitioning a whole
    vocabulary per beam cost a third of the decoder's time."""
    rows, width = scores.shape
    if width <= 4 * k * BLOCK:
        return sorted_top_k(scores, k)
    padded = np.pad(scores, ((0, 0), (0, -width % BLOCK)), constant_values=-np.inf).reshape(rows, -1, BLOCK)
    blocks = sorted_top_k(padded.max(axis=2), k)
    best = sorted_top_k(np.take_along_axis(padded, blocks[:, :, None], axis=1).reshape(rows, -1), k)
    return np.take_along_axis(blocks, best // BLOCK, axis=1) * BLOCK + best % BLOCK


def sorted_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(scores, scores.shape[1] - k, axis=1)[:, -k:]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def chosen(a: np.ndarray, rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """a's rows, flattened after the first axis, at each row's columns in index."""
    return np.take_along_axis(a[rows].reshape(len(rows), -1), index, axis=1)


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


class DecoderRows:
    """The decoder's input rows for the live beams. The decoder reads the image features once per
    row, so they are copied per beam; the copy is made again only when a quarter of its rows are no
    longer needed (finished beams and images), and the spare rows are run as blanks meanwhile."""

    def __init__(self, captioner: Captioner, feats: np.ndarray):
        self.captioner = captioner
        self.feats = feats  # (images, positions, features)
        self.image = np.arange(len(feats))  # the image of each row
        self.rows = feats

    def step(self, live: np.ndarray, tokens: np.ndarray, h: np.ndarray, c: np.ndarray):
        """live (images, k), and the live beams' tokens, h and c in (image, beam) order -> their
        log_probs (N, V), h and c."""
        slots = self._slots(live)
        if len(slots) == len(self.image):  # every row is a live beam, in order
            return self.captioner.inference_step(tokens, h, c, self.rows)
        padded = np.full(len(self.image), tokens[0]), np.zeros((len(self.image), h.shape[1]), h.dtype)
        all_tokens, all_h, all_c = padded[0], padded[1], padded[1].copy()
        all_tokens[slots], all_h[slots], all_c[slots] = tokens, h, c
        log_probs, all_h, all_c = self.captioner.inference_step(all_tokens, all_h, all_c, self.rows)
        return log_probs[slots], all_h[slots], all_c[slots]

    def _slots(self, live: np.ndarray) -> np.ndarray:
        """The row of each live beam: its image's rows in turn."""
        needed = live.sum(axis=1)
        have = np.bincount(self.image, minlength=len(live))
        if (needed > have).any() or needed.sum() < 0.75 * len(self.image):
            self.image = np.repeat(np.arange(len(live)), needed)
            self.rows = self.feats[self.image]
            have = needed
        first = np.cumsum(have) - have
        return first[np.nonzero(live)[0]] + (np.cumsum(live, axis=1) - 1)[live]


@dataclass
class Caption:
    text: str  # cleaned sentence, ready to be an alt text
    confidence: float  # 0..1, see caption_confidence
    words: list[str]
    word_probability: float = 0.0  # geometric mean of the chosen words' probabilities
    agreement: float | None = None  # CIDEr-D against the nearest training photos' captions


class Captioner:
    def __init__(self, bundle: Bundle, beam_size: int | None = None, rerank: bool = True,
                 mirror: bool | None = None, quality: str = "default"):
        self.bundle = bundle
        meta = {**bundle.meta, **QUALITY[quality]}  # a preset overrides the bundle's decoding settings
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
        """Per image, its k beams: (word ids without <end>, log-probability of each emitted token incl. <end>).

        Only the beams still searching go through the decoder, and each offers its k best words:
        the k best of an image's beams x vocabulary are among those, and a finished beam's one
        candidate is itself. An image stops when all its beams have finished."""
        images, k = feats.shape[0], self.beam_size
        start, end = self.special["start"], self.special["end"]
        banned = [self.special[n] for n in ("pad", "start", "unk")]
        steps = self.max_length + 1
        history = np.full((images, k, steps), end, np.int64)
        logps = np.full((images, k, steps), np.nan, np.float32)  # NaN: nothing emitted (finished before)
        scores = np.zeros((images, k), np.float32)
        finished = np.zeros((images, k), bool)
        live = np.zeros((images, k), bool)
        live[:, 0] = True  # one beam per image at first, so that the k beams come out distinct
        tokens = np.full(images, start, np.int64)  # the live beams' last words, in (image, beam) order
        rows = DecoderRows(self, feats)
        for t in range(steps):
            log_probs, h, c = rows.step(live, tokens, h, c)
            log_probs[:, banned] = NEG
            log_probs[np.arange(len(tokens)), tokens] = NEG  # no word twice in a row: a decoding loop
            words = top_k(log_probs, k)
            word_logps = np.take_along_axis(log_probs, words, axis=1)
            total = np.full((images, k, k), -np.inf, np.float32)
            total[live] = scores[live][:, None] + word_logps
            total[finished, 0] = scores[finished]  # a finished beam stays as it is
            word = np.full((images, k, k), end, np.int64)
            word[live] = words
            step_logp = np.full((images, k, k), np.nan, np.float32)
            step_logp[live] = word_logps
            active = np.nonzero(live.any(axis=1))[0]
            best = top_k(total[active].reshape(len(active), k * k), k)
            beam = best // k
            parent = np.full((images, k), -1)
            parent[live] = np.arange(len(tokens))
            parent = chosen(parent, active, beam)
            history[active] = np.take_along_axis(history[active], beam[:, :, None], axis=1)
            logps[active] = np.take_along_axis(logps[active], beam[:, :, None], axis=1)
            history[active, :, t], logps[active, :, t] = chosen(word, active, best), chosen(step_logp, active, best)
            scores[active] = chosen(total, active, best)
            finished[active] = chosen(finished, active, beam) | (history[active, :, t] == end)
            live[:] = False
            live[active] = going = ~finished[active]
            h, c, tokens = h[parent[going]], c[parent[going]], history[active, :, t][going]
            if not live.any():
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
