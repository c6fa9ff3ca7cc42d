"""The encoder's ImageNet classifier in the shipped bundle: what it sees, how it refuses a head made
for another encoder, and the export check against torch."""

import json
import shutil

import numpy as np
import pytest

from alttext.bundle import DEFAULT_MODEL, load_bundle
from alttext.errors import ModelError
from alttext.imagenet import load_imagenet
from alttext.images import load_pixels, normalise

EXAMPLES = DEFAULT_MODEL.parent.parent / "examples"


@pytest.fixture(scope="module")
def shipped():
    bundle = load_bundle(DEFAULT_MODEL, "cpu")
    return bundle, load_imagenet(bundle.path, bundle.meta)


def categories(shipped, name):
    bundle, head = shipped
    size = int(bundle.meta["input_size"])
    path = EXAMPLES / name
    pixels = load_pixels(path.read_bytes(), str(path), size)[None]
    pooled = bundle.encoder.run(["pooled"], {"images": normalise(pixels, bundle.meta)})[0]
    probabilities = head.probabilities(pooled)
    return head.category_scores(probabilities)[0], head.top(probabilities)[0]


def test_it_names_what_flickr8k_never_showed(shipped):
    cat, _ = categories(shipped, "chelsea.jpg")
    assert max(cat, key=cat.get) == "cat" and cat["cat"] > 0.5
    cup, top = categories(shipped, "coffee.jpg")
    assert max(cup, key=cup.get) == "cup" and top[0][0] == "cup of espresso"


def test_classes_never_to_name_are_never_top(shipped):
    _, head = shipped
    probabilities = np.zeros((1, 1000))
    probabilities[0, int(np.flatnonzero(head.never)[0])] = 1.0  # a class never to name, alone
    assert all(head.nouns.index(noun) not in np.flatnonzero(head.never) for noun, _ in head.top(probabilities)[0])


def test_head_for_another_encoder_is_refused(shipped, tmp_path):
    bundle, _ = shipped
    out = tmp_path / "b"
    shutil.copytree(DEFAULT_MODEL, out)
    meta = json.loads((out / "model.json").read_text())
    meta["encoder"] = "lite0"
    with pytest.raises(ModelError, match="made for encoder lite2"):
        load_imagenet(out, meta)


def test_export_check_matches_torch():
    pytest.importorskip("torch", reason="the train extra (torch) runs the reference classifier")
    from export.imagenet import TOLERANCE, check_head

    assert check_head(DEFAULT_MODEL) < TOLERANCE


def test_creatures_sum_their_classes(shipped):
    _, head = shipped
    probabilities = np.zeros((1, 1000))
    for index, p in ((373, 0.4), (372, 0.3), (281, 0.2)):  # macaque, baboon, tabby
        probabilities[0, index] = p
    creatures = head.creature_scores(probabilities)[0]
    assert creatures == pytest.approx({"monkey": 0.7})  # the tabby is a COCO cat, not a creature
    assert head.category_scores(probabilities)[0] == pytest.approx({"cat": 0.2})
