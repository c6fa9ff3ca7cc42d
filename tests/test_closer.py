"""A closer look: which of the detector's boxes are cropped, how, and what their crops decide."""

from dataclasses import replace

import pytest
from PIL import Image

from alttext.bundle import DEFAULT_MODEL
from alttext.captioner import Caption
from alttext.closer import FLOOR, MOST, boxes_to_crop, crop
from alttext.describe import make_describer
from alttext.detector import Detection
from alttext.evidence import Evidence, Policy, decide
from alttext.images import open_image

COFFEE = DEFAULT_MODEL.parent.parent / "examples" / "coffee.jpg"

POLICY = Policy(support={"detector": {"*": 0.6}, "closer": {"*": 0.3}},
                sure={"detector": {"*": 0.6}, "closer": {"*": 0.4}},
                count={"*": 0.5}, max_objects=1)


def test_the_best_box_of_each_known_category_over_the_floor_is_cropped_best_first(monkeypatch):
    monkeypatch.setattr("alttext.closer.MOST", 2)
    found = [Detection("person", 0.9, (0, 0, 1, 1)), Detection("toilet", 0.48, (0, 0, 0.5, 0.5)),
             Detection("toilet", 0.4, (0.5, 0.5, 1, 1)), Detection("sink", 0.35, (0, 0, 1, 1)),
             Detection("oven", 0.33, (0, 0, 1, 1)), Detection("cup", 0.32, (0.5, 0.5, 1, 1)),
             Detection("bowl", FLOOR - 0.01, (0, 0, 1, 1))]
    chosen = boxes_to_crop(found, {"toilet", "sink", "oven", "cup", "bowl"})  # no ImageNet class is a person
    # sink and oven: one box, one crop; the cup's box would be a third crop
    assert [(d.label, d.score, labels) for d, labels in chosen] == \
        [("toilet", 0.48, ["toilet"]), ("sink", 0.35, ["sink", "oven"])]


def test_one_animal_the_detector_calls_a_dog_and_a_cat_is_cropped_once():
    found = [Detection("dog", 0.7, (0.1, 0.1, 0.9, 0.9)), Detection("cat", 0.5, (0.12, 0.1, 0.9, 0.88)),
             Detection("cow", 0.4, (0.1, 0.1, 0.5, 0.5))]
    assert [(d.label, labels) for d, labels in boxes_to_crop(found, {"dog", "cat", "cow"})][:1] == \
        [("dog", ["dog", "cat"])]
    assert len(boxes_to_crop(found, {"dog", "cat", "cow"})) == min(MOST, 2)


def test_a_crop_keeps_a_margin_stays_inside_the_picture_and_survives_a_box_of_no_width():
    picture = Image.new("RGB", (200, 100), "blue")
    picture.paste((255, 0, 0), (0, 0, 100, 100))  # left half red
    left = crop(picture, (0.0, 0.0, 0.4, 1.0), 32)
    assert left.shape == (32, 32, 3) and (left[..., 0] > 200).all()  # widened to 0.46, still all red
    right = crop(picture, (0.6, 0.0, 1.0, 1.0), 32)
    assert (right[..., 2] > 200).all()
    assert crop(picture, (0.5, 0.5, 0.5, 0.5), 32).shape == (32, 32, 3)
    edge = crop(picture, (1.0, 0.2, 1.0, 0.6), 32)  # no width, on the right edge: still the picture's blue
    assert (edge[..., 2] > 200).all()


def test_a_weak_box_whose_crop_the_imagenet_head_recognises_is_named():
    seen = Evidence(boxes={"toilet": [0.48]}, crops={"toilet": {"toilet": 0.62, "sink": 0.05}})
    verdict = decide(None, 0.0, seen, POLICY)
    assert verdict.alt == "A toilet." and "a closer look 0.62" in verdict.why
    seen.crops["toilet"]["toilet"] = 0.2
    assert decide(None, 0.0, seen, POLICY).alt is None


def test_crops_travel_in_the_evidence_record_and_the_policy():
    seen = Evidence(boxes={"toilet": [0.48]}, crops={"toilet": {"toilet": 0.62}})
    back = Evidence.from_dict(seen.as_dict())
    assert back.crops == seen.crops and back.score("closer", "toilet") == 0.62
    assert Policy.from_meta({"evidence": POLICY.as_meta()}) == POLICY
    assert POLICY.looks_closer
    assert not Policy({"detector": {"*": 0.6}}, {"detector": {"*": 0.6}}, {"*": 0.5}).looks_closer


@pytest.fixture(scope="module")
def describer():
    return make_describer(DEFAULT_MODEL, "cpu")


def test_only_a_photo_whose_caption_is_not_yet_verified_is_looked_at_closer(describer):
    picture = open_image(COFFEE.read_bytes(), str(COFFEE))
    detected = describer.detector.detect([picture])

    def crops_for(caption: str) -> dict:
        seen = Evidence(imagenet={"cup": 0.9})  # the whole photo shows a cup
        for d in detected[0]:
            seen.boxes.setdefault(d.label, []).append(d.score)
        describer._look_closer([Caption(caption, 0.9, caption.split())], [seen], [picture], detected)
        return seen.crops

    assert crops_for("A cup of coffee.") == {}  # verified by the whole photo: a crop could change nothing
    crops = crops_for("A dog sleeps on a rug.")
    assert crops and all(max(seen, key=seen.get) == "cup" for seen in crops.values())  # a cup, however boxed
    describer.crop_every_photo = True  # as training.alt_eval records them
    try:
        assert crops_for("A cup of coffee.") == crops
    finally:
        describer.crop_every_photo = False


def test_a_policy_without_closer_tables_crops_nothing(describer):
    policy = describer.policy
    describer.policy = replace(policy, support=without_closer(policy.support), sure=without_closer(policy.sure))
    try:
        found = describer([(str(COFFEE), COFFEE.read_bytes())])[0]
    finally:
        describer.policy = policy
    assert found.evidence["closer"] == {} and found.evidence["detector"]


def without_closer(tables: dict) -> dict:
    return {source: table for source, table in tables.items() if source != "closer"}
