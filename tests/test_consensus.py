"""Consensus re-ranking: neighbours.npz in a bundle chooses among the beams the model finished."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from alttext.bundle import load_bundle
from alttext.captioner import Captioner
from alttext.consensus import FILE, load_consensus
from alttext.describe import Describer
from alttext.errors import ModelError
from training.consensus import neighbour_arrays


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(2).integers(0, 255, (4, 224, 224, 3), dtype=np.uint8)


def write_neighbours(bundle, pooled, captions, weight=100.0, neighbours=1, encoder="lite0"):
    photos = [SimpleNamespace(captions=c) for c in captions]
    np.savez(bundle / FILE, **neighbour_arrays(pooled, photos, encoder, 4, neighbours, weight))


def plain_and_beams(bundle, pixels):
    captioner = Captioner(load_bundle(bundle, "cpu"), beam_size=4, rerank=False)
    feats, h, c, pooled = captioner.feed_image(pixels)
    beams = captioner.beam_search(feats, h, c)
    return captioner, [cap.words for cap in captioner.caption(pixels)], beams, pooled


def test_the_beam_that_agrees_with_the_nearest_photos_captions_is_chosen(bundle_copy, pixels):
    captioner, plain, beams, pooled = plain_and_beams(bundle_copy, pixels)
    # for each image, a beam the model ranks below its best one, said five times by its "neighbour"
    words = [[[captioner.vocab[i] for i in ids] for ids, _ in b] for b in beams]
    wanted = [next(w for w in ws if w and w != best) for ws, best in zip(words, plain)]
    # other photos far from these, so that the wanted words are rare in the collection (CIDEr-D's idf)
    others = np.random.default_rng(0).normal(0, pooled.std() * 10, (12, pooled.shape[1]))
    write_neighbours(bundle_copy, np.concatenate([pooled, others]),
                     [[" ".join(w)] * 5 for w in wanted] + [["zebra crossing at night"] * 5] * len(others))
    reranked = Captioner(load_bundle(bundle_copy, "cpu"), beam_size=4).caption(pixels)
    assert [cap.words for cap in reranked] == wanted != plain


def test_a_fitted_confidence_model_turns_words_and_agreement_into_the_confidence(bundle_copy, pixels):
    _, _, _, pooled = plain_and_beams(bundle_copy, pixels)
    write_neighbours(bundle_copy, pooled, [["a dog runs on the grass"] * 5] * len(pixels))
    plain = Captioner(load_bundle(bundle_copy, "cpu"), beam_size=4).caption(pixels)
    assert all(c.agreement is not None and c.confidence == c.word_probability for c in plain)
    meta = json.loads((bundle_copy / "model.json").read_text())
    model = {"intercept": -1.0, "log_word_probability": 0.5, "agreement": 3.0}
    (bundle_copy / "model.json").write_text(json.dumps({**meta, "confidence": model}))
    fitted = Captioner(load_bundle(bundle_copy, "cpu"), beam_size=4).caption(pixels)
    assert [c.words for c in fitted] == [c.words for c in plain]
    for c in fitted:
        z = -1.0 + 0.5 * np.log(c.word_probability) + 3.0 * c.agreement
        assert c.confidence == pytest.approx(1 / (1 + np.exp(-z))) and c.confidence != c.word_probability
    (bundle_copy / "model.json").write_text(json.dumps({**meta, "confidence": {"intercept": -1.0, "agreement": "3"}}))
    with pytest.raises(ModelError, match='"confidence" must give numbers for intercept, log_word_probability'):
        load_bundle(bundle_copy, "cpu")


def test_no_weight_or_no_file_leaves_the_beam_search_as_it_was(bundle_copy, pixels):
    _, plain, beams, pooled = plain_and_beams(bundle_copy, pixels)
    write_neighbours(bundle_copy, pooled, [["zebra crossing at night"] * 5] * len(pixels), weight=0.0)
    assert [c.words for c in Captioner(load_bundle(bundle_copy, "cpu"), beam_size=4).caption(pixels)] == plain


def test_neighbours_change_what_fill_caches_by(bundle_copy, pixels):
    before = Describer(Captioner(load_bundle(bundle_copy, "cpu"))).model_id
    _, _, _, pooled = plain_and_beams(bundle_copy, pixels)
    write_neighbours(bundle_copy, pooled, [["a dog"]] * len(pixels))
    after = Describer(Captioner(load_bundle(bundle_copy, "cpu"))).model_id
    assert before != after and "neighbours:none" in before


def test_decoding_and_confidence_settings_change_what_fill_caches_by(tiny_bundle):
    bundle = load_bundle(tiny_bundle, "cpu")
    ids = {Describer(Captioner(bundle, beam_size=b, mirror=m)).model_id for b in (3, 5) for m in (False, True)}
    fitted = Captioner(bundle)
    fitted.confidence_model = {"intercept": 0.0, "log_word_probability": 1.0, "agreement": 1.0}
    ids.add(Describer(fitted).model_id)
    assert len(ids) == 5


def test_unusable_neighbours_are_one_line_model_errors(bundle_copy, pixels):
    meta = load_bundle(bundle_copy, "cpu").meta
    (bundle_copy / FILE).write_bytes(b"not an npz")
    with pytest.raises(ModelError, match=f"{FILE}: unreadable"):
        load_consensus(bundle_copy, meta)
    _, _, _, pooled = plain_and_beams(bundle_copy, pixels[:2])
    write_neighbours(bundle_copy, pooled, [["a dog"]] * 2, encoder="lite2")
    with pytest.raises(ModelError, match="made with encoder lite2, the bundle has lite0"):
        Captioner(load_bundle(bundle_copy, "cpu"))
    write_neighbours(bundle_copy, pooled, [["a dog"]] * 2, neighbours=0)
    with pytest.raises(ModelError, match="neighbours must be at least 1, not 0"):
        Captioner(load_bundle(bundle_copy, "cpu"))
