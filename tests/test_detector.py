"""alttext/detector.py (the bundle's object detector) and export/detector.py's reference check."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from bundle_parts import with_part
from PIL import Image

from alttext.bundle import DEFAULT_MODEL, load_bundle
from alttext.detector import Detector, load_detector
from alttext.errors import ModelError
from export.detector import INT8_TOLERANCE, REFERENCE, SECTION, check_reference
from training.detector_scores import coco_truth, match_boxes

EXAMPLES = Path(__file__).resolve().parent.parent / "alttext" / "examples"
CONFIG = {**SECTION, "labels": ["ball", "cat", "dog"]}
CELLS = {8: 52 * 52, 16: 26 * 26, 32: 13 * 13}


@pytest.fixture(scope="module")
def shipped():
    detector = load_bundle(DEFAULT_MODEL, "cpu").detector
    assert detector is not None, "the shipped bundle has no detector.onnx"
    return detector


def raw(peaks: list[tuple[int, int, int, int, float, tuple[int, int, int, int]]]) -> dict[str, np.ndarray]:
    """Raw outputs of one picture with nothing in it but `peaks`: (stride, column, row, class, score,
    the bin each side's distribution peaks at: left, top, right, bottom)."""
    outputs = {}
    for stride, cells in CELLS.items():
        outputs[f"scores_{stride}"] = np.full((cells, len(CONFIG["labels"])), 0.01, np.float32)
        outputs[f"boxes_{stride}"] = np.zeros((cells, 4 * 11), np.float32)
    for stride, column, row, label, score, bins in peaks:
        cell = row * (416 // stride) + column
        outputs[f"scores_{stride}"][cell, label] = score
        for side, peak in enumerate(bins):
            outputs[f"boxes_{stride}"][cell, side * 11 + peak] = 30.0  # softmax ~ one-hot
    return outputs


def decode(peaks, frame=(0, 0, 416, 416)):
    detector = Detector(None, CONFIG, "test")
    return detector.decode(raw(peaks), np.array(frame, np.float32))


def test_one_peaked_cell_gives_one_box_at_its_place():
    # stride 16, cell (column 7, row 5): centre (120, 88); sides 2, 3, 4, 1 bins of 16 pixels
    [found] = decode([(16, 7, 5, 1, 0.9, (2, 3, 4, 1))])
    assert found.label == "cat"
    assert found.score == pytest.approx(0.9)
    assert found.box == pytest.approx((88 / 416, 40 / 416, 184 / 416, 104 / 416), abs=1e-4)


def test_a_distance_is_the_expected_value_over_the_bins():
    outputs = raw([(32, 6, 6, 0, 0.8, (0, 0, 0, 0))])
    outputs["boxes_32"][6 * 13 + 6, :11] = 0.0
    outputs["boxes_32"][6 * 13 + 6, 2:4] = 30.0  # left: bins 2 and 3 equally likely -> 2.5 bins
    [found] = Detector(None, CONFIG, "test").decode(outputs, np.array([0, 0, 416, 416], np.float32))
    assert found.box[0] == pytest.approx((6.5 * 32 - 2.5 * 32) / 416, abs=1e-4)


def test_nms_drops_a_weaker_overlapping_box_of_the_same_class_only():
    found = decode([
        (8, 20, 20, 2, 0.9, (4, 4, 4, 4)),   # dog, centre (164, 164)
        (8, 21, 20, 2, 0.7, (4, 4, 4, 4)),   # dog, 8 pixels to the right: IoU 0.78 > 0.6, dropped
        (8, 20, 20, 1, 0.6, (4, 4, 4, 4)),   # cat, same place: kept (another class)
        (8, 40, 40, 2, 0.5, (4, 4, 4, 4)),   # dog, far away: kept
    ])
    assert [(d.label, round(d.score, 2)) for d in found] == [("dog", 0.9), ("cat", 0.6), ("dog", 0.5)]


def test_weak_cells_are_left_out_and_the_rest_sorted_best_first():
    found = decode([(8, 3, 3, 0, 0.04, (1, 1, 1, 1)), (32, 2, 2, 1, 0.3, (1, 1, 1, 1)),
                    (16, 9, 9, 2, 0.6, (1, 1, 1, 1))])
    assert [d.label for d in found] == ["dog", "cat"]
    assert decode([]) == []


def test_boxes_are_fractions_of_the_picture_inside_a_letterbox():
    # a picture twice as wide as high, letterboxed: it fills rows 104..312 of the input
    [found] = decode([(16, 12, 12, 0, 0.9, (2, 2, 2, 2))], frame=(0, 104, 416, 208))
    assert found.box == pytest.approx(((200 - 32) / 416, (200 - 32 - 104) / 208, (200 + 32) / 416,
                                       (200 + 32 - 104) / 208), abs=1e-4)


def test_the_shipped_detector_finds_the_cat_the_cup_and_the_astronaut(shipped):
    names = ["chelsea.jpg", "coffee.jpg", "astronaut.jpg"]
    found = shipped.detect([Image.open(EXAMPLES / name) for name in names])
    best = {name: {d.label for d in detections if d.score >= 0.3} for name, detections in zip(names, found)}
    assert "cat" in best["chelsea.jpg"]
    assert "cup" in best["coffee.jpg"]
    assert "person" in best["astronaut.jpg"]
    for detections in found:
        assert 0 < len(detections) <= SECTION["max_detections"]
        assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)
        assert all(d.score >= SECTION["score_threshold"] for d in detections)
        assert all(0 <= v <= 1 for d in detections for v in d.box)


def test_a_batch_finds_what_one_picture_at_a_time_finds(shipped):
    pictures = [Image.open(path) for path in sorted(EXAMPLES.glob("*.jpg"))]
    together = shipped.detect(pictures)
    alone = [shipped.detect([picture])[0] for picture in pictures]
    for a, b in zip(together, alone):
        assert [d.label for d in a] == [d.label for d in b]
        assert np.allclose([d.box for d in a], [d.box for d in b], atol=1e-4)


def test_digest_names_the_file(shipped):
    data = (DEFAULT_MODEL / "detector.onnx").read_bytes()
    assert shipped.digest == hashlib.sha256(data).hexdigest()[:12]


@pytest.fixture(scope="module")
def tiny_coco() -> Path:
    value = os.environ.get("ALTTEXT_TINY_COCO")
    if not value or not (Path(value) / "val2017").is_dir():
        pytest.skip("tiny_coco not found: set ALTTEXT_TINY_COCO to the tiny_coco directory (../shared/data/tiny_coco)")
    return Path(value)


@pytest.mark.parametrize("name, label", [("000000443303.jpg", "cat"), ("000000286994.jpg", "elephant"),
                                         ("000000122745.jpg", "stop sign")])
def test_boxes_land_on_coco_val2017_objects(shipped, tiny_coco, name, label):
    truth = coco_truth(tiny_coco / "annotations" / "instances_val2017.json")[name]
    [found] = shipped.detect([Image.open(tiny_coco / "val2017" / name)])
    rows = [[d.label, d.score, *d.box] for d in found]
    counts = match_boxes(rows, truth, threshold=0.5)
    assert counts[label, "tp"] >= 1
    assert counts[label, "fp"] == 0


def test_a_bundle_without_a_detector_loads_without_one(tiny_bundle):
    assert load_bundle(tiny_bundle, "cpu").detector is None


def test_a_bundle_with_the_detector_added_loads_it(bundle_copy):
    with_part(bundle_copy, "detector.onnx", "detector", SECTION)
    assert load_bundle(bundle_copy, "cpu").detector.labels[:2] == ["person", "bicycle"]


@pytest.mark.parametrize("section, message", [
    (None, 'without a "detector" section'),
    ({k: v for k, v in SECTION.items() if k != "strides"}, '"detector" lacks strides'),
    ({**SECTION, "labels": SECTION["labels"][:10]}, "80 classes, model.json names 10"),
    ({**SECTION, "strides": [8, 16]}, "model.json's strides need"),
])
def test_a_malformed_detector_is_one_line_model_error(bundle_copy, section, message):
    with_part(bundle_copy, "detector.onnx", "detector", section)
    with pytest.raises(ModelError, match=message) as error:
        load_bundle(bundle_copy, "cpu")
    assert "\n" not in str(error.value)


def test_a_section_without_its_file_is_refused(bundle_copy):
    meta = json.loads((bundle_copy / "model.json").read_text())
    with pytest.raises(ModelError, match="detector.onnx is missing"):
        load_detector(bundle_copy, {**meta, "detector": SECTION}, ["CPUExecutionProvider"])


def test_the_shipped_detector_is_int8_and_near_the_stored_reference_outputs():
    onnx = pytest.importorskip("onnx")
    assert REFERENCE.stat().st_size < 400_000
    section = json.loads((DEFAULT_MODEL / "model.json").read_text())["detector"]
    assert section["weights"] == "int8"
    model = onnx.load(str(DEFAULT_MODEL / "detector.onnx"))
    assert sum(init.data_type == onnx.TensorProto.INT8 for init in model.graph.initializer) >= 30  # the convs
    worst = check_reference(DEFAULT_MODEL / "detector.onnx", INT8_TOLERANCE)
    assert worst == pytest.approx(section["quantization"]["max_abs_diff_vs_reference"], abs=1e-5)


def test_the_reference_check_refuses_a_changed_detector(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(DEFAULT_MODEL / "detector.onnx"))
    biggest = max(model.graph.initializer, key=lambda init: numpy_helper.to_array(init).size)
    weights = numpy_helper.to_array(biggest)
    biggest.CopyFrom(numpy_helper.from_array(-weights, biggest.name))
    onnx.save(model, str(tmp_path / "detector.onnx"))
    with pytest.raises(AssertionError, match="differ from detector_reference.npz"):
        check_reference(tmp_path / "detector.onnx", INT8_TOLERANCE)


def test_box_scores_count_a_match_a_wrong_class_and_a_miss():
    truth = [("dog", np.array([0.1, 0.1, 0.5, 0.5])), ("dog", np.array([0.6, 0.6, 0.9, 0.9])),
             ("cat", np.array([0.0, 0.5, 0.3, 1.0]))]
    found = [["dog", 0.9, 0.12, 0.1, 0.5, 0.52], ["dog", 0.8, 0.1, 0.1, 0.5, 0.5], ["cow", 0.7, 0.6, 0.6, 0.9, 0.9],
             ["cat", 0.2, 0.0, 0.5, 0.3, 1.0]]
    counts = match_boxes(found, truth, threshold=0.5)
    assert dict(counts) == {("dog", "tp"): 1, ("dog", "fp"): 1, ("cow", "fp"): 1, ("dog", "fn"): 1, ("cat", "fn"): 1}
