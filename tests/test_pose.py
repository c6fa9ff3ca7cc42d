"""alttext/pose.py (the bundle's pose model): loading it, and the bodies it finds in real photos."""

import json
from pathlib import Path

import pytest
from bundle_parts import with_part
from PIL import Image

from alttext.bundle import DEFAULT_MODEL, load_bundle
from alttext.errors import ModelError

EXAMPLES = Path(__file__).resolve().parent.parent / "alttext" / "examples"


@pytest.fixture(scope="module")
def shipped():
    pose = load_bundle(DEFAULT_MODEL, "cpu").pose
    assert pose is not None, "the shipped bundle has no pose.onnx"
    return pose


def test_the_astronaut_has_a_body_and_the_cat_and_the_coffee_have_none(shipped):
    found = shipped.bodies([Image.open(EXAMPLES / name) for name in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")])
    astronaut, cat, coffee = (bodies[0] for bodies in found)
    assert astronaut >= 0.3 and cat < 0.1 and coffee < 0.2
    assert all(len(bodies) == 6 and bodies == sorted(bodies, reverse=True) for bodies in found)


def test_a_grey_or_odd_sized_picture_is_letterboxed_not_refused(shipped):
    [bodies] = shipped.bodies([Image.new("L", (37, 500), 128)])
    assert bodies[0] < 0.1


SECTION = json.loads((DEFAULT_MODEL / "model.json").read_text()).get("pose", {})


def test_a_bundle_without_a_pose_model_loads_without_one(tiny_bundle):
    assert load_bundle(tiny_bundle, "cpu").pose is None


def test_a_bundle_with_the_pose_model_added_loads_it(bundle_copy):
    assert load_bundle(with_part(bundle_copy, "pose.onnx", "pose", SECTION), "cpu").pose is not None


@pytest.mark.parametrize("section, message", [
    (None, 'pose.onnx without a "pose" section'),
    ({k: v for k, v in SECTION.items() if k != "keypoints"}, '"pose" lacks keypoints'),
    ({**SECTION, "bodies": 10}, r"needs \(1, 10, 56\)"),
])
def test_a_malformed_pose_model_is_one_line_model_error(bundle_copy, section, message):
    with_part(bundle_copy, "pose.onnx", "pose", section)
    with pytest.raises(ModelError, match=message) as error:
        load_bundle(bundle_copy, "cpu")
    assert "\n" not in str(error.value)
