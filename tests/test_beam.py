"""The runtime's batched beam search."""

import numpy as np
import pytest

from alttext.bundle import DEFAULT_MODEL, load_bundle
from alttext.captioner import Captioner, top_k
from alttext.images import load_pixels

EXAMPLES = DEFAULT_MODEL.parent.parent / "examples"


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(1).integers(0, 255, (5, 224, 224, 3), dtype=np.uint8)


def greedy(captioner, pixels):
    """Plain greedy decoding with the same rules (no banned tokens, no word twice in a row)."""
    feats, h, c, _ = captioner.feed_image(pixels)
    sp = captioner.special
    out = []
    for i in range(len(pixels)):
        token, words, fi, hi, ci = sp["start"], [], feats[i : i + 1], h[i : i + 1], c[i : i + 1]
        for _ in range(captioner.max_length + 1):
            log_probs, hi, ci = captioner.inference_step(np.array([token]), hi, ci, fi)
            lp = log_probs[0].copy()
            lp[[sp["pad"], sp["start"], sp["unk"]]] = -1e9
            if words:
                lp[words[-1]] = -1e9
            token = int(lp.argmax())
            if token == sp["end"]:
                break
            words.append(token)
        out.append([captioner.vocab[w] for w in words])
    return out


def test_beam_of_one_is_greedy(tiny_bundle, pixels):
    captioner = Captioner(load_bundle(tiny_bundle, "cpu"), beam_size=1)
    assert [c.words for c in captioner.caption(pixels)] == greedy(captioner, pixels)


def test_batched_equals_one_at_a_time(tiny_bundle, pixels):
    captioner = Captioner(load_bundle(tiny_bundle, "cpu"), beam_size=4)
    together = captioner.caption(pixels)
    alone = [captioner.caption(pixels[i : i + 1])[0] for i in range(len(pixels))]
    assert [c.words for c in together] == [c.words for c in alone]
    assert np.allclose([c.confidence for c in together], [c.confidence for c in alone], atol=1e-5)


def test_wider_beam_never_scores_worse(tiny_bundle, pixels):
    bundle = load_bundle(tiny_bundle, "cpu")
    narrow = Captioner(bundle, beam_size=1).caption(pixels)
    wide = Captioner(bundle, beam_size=5).caption(pixels)
    # the beam ranks by length-normalised log-probability, i.e. log(confidence)
    assert all(w.confidence >= n.confidence - 1e-6 for w, n in zip(wide, narrow))



def test_mirrored_candidates_give_the_better_of_both_searches():
    # the shipped model, since a random one writes the same caption whatever the photo
    bundle = load_bundle(DEFAULT_MODEL, "cpu")
    pixels = np.stack([load_pixels(p.read_bytes(), p.name, int(bundle.meta["input_size"]))
                       for p in sorted(EXAMPLES.glob("*.jpg"))])
    one_search = Captioner(bundle, beam_size=3, rerank=False, mirror=False)
    as_is = one_search.caption(pixels)
    mirrored = one_search.caption(np.ascontiguousarray(pixels[:, :, ::-1]))
    both = Captioner(bundle, beam_size=3, rerank=False, mirror=True).caption(pixels)
    # without neighbours the choice is by length-normalised log-probability, i.e. log(confidence)
    expected = [a if a.confidence >= m.confidence else m for a, m in zip(as_is, mirrored)]
    assert [c.words for c in both] == [c.words for c in expected]
    assert any(b.words != a.words for b, a in zip(both, as_is))
    bundle.meta["mirror_candidates"] = True
    assert Captioner(bundle).mirror and not Captioner(bundle, mirror=False).mirror


def full_search(captioner, feats, h, c):
    """The search as first written: every beam, finished or not, over the whole vocabulary, every step."""
    images, k, vocab = feats.shape[0], captioner.beam_size, len(captioner.vocab)
    sp = captioner.special
    feats, h, c = (np.repeat(a, k, axis=0) for a in (feats, h, c))
    scores = np.full((images, k), -1e9, np.float32)
    scores[:, 0] = 0.0
    tokens = np.full((images, k), sp["start"])
    history, logps = np.zeros((images, k, 0), np.int64), np.zeros((images, k, 0), np.float32)
    finished = np.zeros((images, k), bool)
    for _ in range(captioner.max_length + 1):
        log_probs, h, c = captioner.inference_step(tokens.reshape(-1), h, c, feats)
        log_probs = log_probs.reshape(images, k, vocab).copy()
        log_probs[:, :, [sp["pad"], sp["start"], sp["unk"]]] = -1e9
        if history.shape[2]:
            np.put_along_axis(log_probs, history[:, :, -1:], -1e9, axis=2)
        log_probs[finished] = -1e9
        log_probs[finished, sp["end"]] = 0.0
        total = (scores[:, :, None] + log_probs).reshape(images, -1)
        best = np.argsort(-total, axis=1, kind="stable")[:, :k]
        beam, word = best // vocab, best % vocab
        step_logp = np.take_along_axis(log_probs.reshape(images, -1), best, axis=1)
        scores = np.take_along_axis(total, best, axis=1)
        was_finished = np.take_along_axis(finished, beam, axis=1)
        history = np.concatenate([np.take_along_axis(history, beam[:, :, None], axis=1), word[:, :, None]], axis=2)
        logps = np.concatenate([np.take_along_axis(logps, beam[:, :, None], axis=1),
                                np.where(was_finished, np.nan, step_logp)[:, :, None]], axis=2)
        finished = was_finished | (word == sp["end"])
        rows = (np.arange(images)[:, None] * k + beam).reshape(-1)
        h, c, tokens = h[rows], c[rows], word
        if finished.all():
            break
    return [captioner._finished(history[i], logps[i]) for i in range(images)]


@pytest.mark.parametrize("beam_size", [1, 3, 6])
def test_the_pruned_search_finds_the_beams_of_the_full_search(tiny_bundle, pixels, beam_size):
    captioner = Captioner(load_bundle(tiny_bundle, "cpu"), beam_size=beam_size, rerank=False)
    feats, h, c, _ = captioner.feed_image(pixels)
    pruned, full = captioner.beam_search(feats, h, c), full_search(captioner, feats, h, c)
    assert [[ids for ids, _ in b] for b in pruned] == [[ids for ids, _ in b] for b in full]
    def flat(beams):
        return [lp for b in beams for _, lps in b for lp in lps]

    assert np.allclose(flat(pruned), flat(full))


@pytest.mark.parametrize("width", [40, 2538, 5000])
def test_top_k_is_a_sort_cut_short(width):
    scores = np.random.default_rng(width).normal(size=(50, width)).astype(np.float32)
    for k in (1, 3, 10):
        assert (top_k(scores, k) == np.argsort(-scores, axis=1, kind="stable")[:, :k]).all()
