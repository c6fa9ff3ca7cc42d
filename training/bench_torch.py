"""The bundle's model in torch eager beside ONNX Runtime, in one run, with the ratio (needs the
`train` extra).

    python -m training.bench_torch [--model alttext/models/default] [--images GLOB] [--batch 32]

The torch model is rebuilt from the bundle: the encoder from the same pretrained EfficientNet-Lite
weights (the shipped encoders are frozen), the decoder's weights read from the ONNX files. Its
output is checked against ONNX Runtime's before anything is timed. Both run through alttext's own
Captioner, so only the engine differs; images are decoded once, before timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from alttext.bench import cycled, image_paths, speeds
from alttext.bundle import load_bundle, model_dir
from alttext.captioner import Captioner
from alttext.fetch import read_file
from alttext.images import load_pixels
from training.model import Captioner as TorchCaptioner
from training.model import DecoderConfig


class TorchSession:
    """A torch module behind the two methods of an onnxruntime InferenceSession that Captioner uses."""

    def __init__(self, module: torch.nn.Module, inputs: list[str]):
        self.module, self.inputs = module.eval(), inputs

    def get_inputs(self):
        return [SimpleNamespace(name=name) for name in self.inputs]

    def get_providers(self):
        return ["torch eager"]

    def run(self, _outputs, feed: dict):
        with torch.inference_mode():
            outputs = self.module(*(torch.from_numpy(feed[name]) for name in self.inputs))
        return [o.numpy() for o in outputs]


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """Named initializers as float32, without the export's "_float16" suffix."""
    return {init.name.removesuffix("_float16"): numpy_helper.to_array(init).astype(np.float32)
            for init in onnx.load(str(path)).graph.initializer}


def decoder_state(bundle_dir: Path, config: DecoderConfig) -> dict[str, torch.Tensor]:
    """The torch Decoder's state dict from encoder.onnx and decoder.onnx. Linear layers the export
    turned into MatMul have lost their names and are found by their (transposed) shape."""
    weights = {**onnx_weights(bundle_dir / "encoder.onnx"), **onnx_weights(bundle_dir / "decoder.onnx")}
    found = {k.removeprefix("model."): v for k, v in weights.items() if k.startswith(("model.decoder.", "decoder."))}
    unnamed = {v.shape: v for name, v in weights.items() if name.startswith("onnx::MatMul")}
    shapes = {"project": (1280, config.feature_dim), "att_feats": (config.feature_dim, config.attention_dim),
              "att_score": (config.attention_dim, 1)}
    for layer, shape in shapes.items():
        found.setdefault(f"decoder.{layer}.weight", unnamed[shape].T)
    return {k.removeprefix("decoder."): torch.from_numpy(np.ascontiguousarray(v)) for k, v in found.items()}


def torch_bundle(bundle):
    meta = bundle.meta
    config = DecoderConfig(**{k: v for k, v in meta["decoder"].items() if k in DecoderConfig.__dataclass_fields__})
    model = TorchCaptioner(config, encoder=meta["encoder"]).eval()
    model.decoder.load_state_dict(decoder_state(bundle.path, config))
    from export.export import EncoderGraph, StepGraph

    return dataclasses.replace(bundle, encoder=TorchSession(EncoderGraph(model), ["images"]),
                               decoder=TorchSession(StepGraph(model), ["tokens", "h", "c", "feats"]))


def largest_difference(onnx_captioner: Captioner, torch_captioner: Captioner, pixels: np.ndarray) -> float:
    """Largest |log-probability difference| of the first decoder step, from the same images."""
    steps = []
    for captioner in (onnx_captioner, torch_captioner):
        feats, h, c, _ = captioner.feed_image(pixels)
        tokens = np.full(len(pixels), captioner.special["start"], np.int64)
        steps.append(captioner.inference_step(tokens, h, c, feats)[0])
    return float(np.abs(steps[0] - steps[1]).max())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--images", default=None, help="glob of image files (default: the bundled examples)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    p.add_argument("--quality", default="default")
    args = p.parse_args(argv)

    bundle = load_bundle(model_dir(args.model), "cpu")
    engines = {"onnxruntime": Captioner(bundle, quality=args.quality),
               "torch": Captioner(torch_bundle(bundle), quality=args.quality)}
    paths = image_paths(args.images)
    pixels = cycled([load_pixels(read_file(path), str(path), engines["torch"].input_size) for path in paths],
                    args.batch)
    difference = largest_difference(*engines.values(), np.stack(pixels[:4]))
    if difference > 1e-2:
        raise SystemExit(f"torch and ONNX Runtime disagree by {difference:.3g} in log-probability: not the same model")
    report = {"model": bundle.meta.get("name"), "decoding": engines["torch"].decoding, "batch": args.batch,
              "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
              "max_log_prob_difference": round(difference, 6)}
    for name, captioner in engines.items():
        report[name] = speeds(captioner, pixels, args.batch, args.seconds)
    report["onnxruntime_over_torch"] = {k: round(report["onnxruntime"][k] / report["torch"][k], 2)
                                        for k in report["torch"]}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
