"""The runtime's batched beam search."""

import numpy as np
import pytest

from alttext.bundle import DEFAULT_MODEL, load_bundle
from alttext.captioner import Captioner
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
