"""Write a model bundle from a training checkpoint and check it against torch.

    python -m export.export runs/lite0/best.pt alttext/models/default
    python -m export.export runs/a/best.pt runs/b/best.pt alttext/models/default   # an ensemble

The bundle format is documented once, in README.md ("The model bundle").
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.model import MEAN, STD, Captioner, Decoder, DecoderConfig, Ensemble, read_checkpoint
from training.vocab import END, PAD, START, UNK

FORMAT_VERSION = 1
TOLERANCE = 1e-4


class EncoderGraph(nn.Module):
    def __init__(self, model: Captioner):
        super().__init__()
        self.model = model

    def forward(self, images):
        return self.model.encode(images)


class StepGraph(nn.Module):
    def __init__(self, model: Captioner):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, tokens, h, c, feats):
        return self.decoder.step(tokens, h, c, feats)


def load_checkpoints(paths: list[Path]) -> tuple[Captioner, dict]:
    """One checkpoint, or several trained on the same encoder and vocabulary, run as an Ensemble.
    Returns the model and what model.json needs of the checkpoints."""
    saved = [read_checkpoint(path) for path in paths]
    first = saved[0]
    for path, other in zip(paths[1:], saved[1:]):
        for key in ("encoder", "vocab", "max_len"):
            if other[key] != first[key]:
                raise SystemExit(f"{path}: its {key} differs from {paths[0]}'s (an ensemble shares one encoder "
                                 "and one vocabulary)")
    decoders = []
    for one in saved:
        decoder = Decoder(DecoderConfig(**one["config"]))
        decoder.load_state_dict(one["decoder"])
        decoders.append(decoder)
    if len(saved) > 1 and any("encoder_weights" in one for one in saved):
        raise SystemExit("an ensemble shares one encoder: members with a fine-tuned encoder cannot be combined")
    model = Captioner(decoders[0].config, encoder=first["encoder"])
    if "encoder_weights" in first:
        model.encoder.load_state_dict(first["encoder_weights"])
    if len(saved) == 1:
        model.decoder = decoders[0]
        return model.eval(), first
    model.decoder = Ensemble(decoders)
    members = {"config": [one["config"] for one in saved], "members": [str(path) for path in paths]}
    for key in ("dev_cider", "history", "started_from"):
        members[key] = [one.get(key) for one in saved]
    return model.eval(), {**{k: first[k] for k in ("encoder", "vocab", "max_len")}, **members}


def export_onnx(model: Captioner, out_dir: Path) -> None:
    size = model.encoder.input_size
    images = torch.randn(2, 3, size, size)
    with torch.no_grad():
        feats, h, c, _ = model.encode(images)
    torch.onnx.export(
        EncoderGraph(model).eval(), (images,), out_dir / "encoder.onnx", dynamo=False,
        input_names=["images"], output_names=["feats", "h", "c", "pooled"],
        dynamic_axes={"images": {0: "batch"}, "feats": {0: "batch"}, "h": {0: "batch"},
                      "c": {0: "batch"}, "pooled": {0: "batch"}},
        opset_version=17,
    )
    tokens = torch.zeros(2, dtype=torch.long)
    torch.onnx.export(
        StepGraph(model).eval(), (tokens, h, c, feats), out_dir / "decoder.onnx", dynamo=False,
        input_names=["tokens", "h", "c", "feats"], output_names=["log_probs", "h_out", "c_out", "alpha"],
        dynamic_axes={n: {0: "batch"} for n in ["tokens", "h", "c", "feats", "log_probs", "h_out", "c_out", "alpha"]},
        opset_version=17,
    )


def check_against_torch(model: Captioner, out_dir: Path, seed: int = 0) -> float:
    """Largest |log-prob difference| between ONNX Runtime (CPU) and torch over a few decoder steps."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    size = model.encoder.input_size
    images = rng.standard_normal((3, 3, size, size)).astype(np.float32)
    encoder = ort.InferenceSession(str(out_dir / "encoder.onnx"), providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(str(out_dir / "decoder.onnx"), providers=["CPUExecutionProvider"])
    feats, h, c, _ = encoder.run(None, {"images": images})
    with torch.no_grad():
        t_feats, t_h, t_c, _ = model.encode(torch.from_numpy(images))
        worst = 0.0
        tokens = rng.integers(0, model.decoder.config.vocab_size, size=3)
        for _ in range(4):
            inputs = {"tokens": tokens.astype(np.int64), "h": h, "c": c, "feats": feats}
            log_probs, h, c, _ = decoder.run(None, {i.name: inputs[i.name] for i in decoder.get_inputs()})
            t_log_probs, t_h, t_c, _ = model.decoder.step(torch.from_numpy(tokens), t_h, t_c, t_feats)
            worst = max(worst, float(np.abs(log_probs - t_log_probs.numpy()).max()))
            tokens = log_probs.argmax(1)
    if worst > TOLERANCE:
        raise AssertionError(f"ONNX Runtime differs from torch by {worst:.2e} (> {TOLERANCE:g})")
    return worst


def write_model_json(model: Captioner, saved: dict, out_dir: Path, extra: dict) -> dict:
    vocab = saved["vocab"]
    meta = {
        "format_version": FORMAT_VERSION,
        "name": extra.pop("name", "alttext-captioner"),
        "vocab": vocab,
        "special_tokens": {k: vocab.index(v) for k, v in (("pad", PAD), ("start", START), ("end", END), ("unk", UNK))},
        "input_size": model.encoder.input_size,
        "normalisation": {"scale": 1 / 255, "mean": list(MEAN), "std": list(STD), "layout": "NCHW", "colour": "RGB"},
        "max_length": saved["max_len"],
        "beam_size": 3,
        "length_penalty": 1.0,
        "mirror_candidates": False,
        "encoder": encoder_identity(saved),
        "decoder": saved["config"],
        "provenance": {
            "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__,
            "dev_cider_d": saved.get("dev_cider"),
            "training": saved.get("history"),
            "started_from": saved.get("started_from"),
            **({"ensemble_of": saved["members"]} if "members" in saved else {}),
        },
        "scores": {},
    }
    meta.update(extra)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def encoder_identity(saved: dict) -> str:
    """The EfficientNet-Lite variant, plus a digest of its weights when training fine-tuned them, so
    that bundle parts made through the ImageNet encoder (kinds.npz, neighbours.npz) are refused."""
    if "encoder_weights" not in saved:
        return saved["encoder"]
    digest = hashlib.sha256()
    for name, tensor in sorted(saved["encoder_weights"].items()):
        digest.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
    return f"{saved['encoder']}+tuned-{digest.hexdigest()[:8]}"


def round_to_float16(model: nn.Module) -> None:
    """Round every weight to the nearest float16 value (kept as float32), so that the float16 files
    hold exactly the model that torch checks."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())


def store_weights_as_float16(path: Path) -> None:
    """Shrink an ONNX file without changing it: every float32 weight that float16 holds exactly
    (all of the decoder's, after round_to_float16) is stored as float16, followed by a Cast back to
    float32. ONNX Runtime folds the casts when it loads the file, so the arithmetic and the speed
    stay float32."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    casts = []
    for index, init in enumerate(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        weights = numpy_helper.to_array(init)
        if not weights.size:  # an empty one stands for "not given" (Resize's scales), not for a weight
            continue
        half = weights.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), weights):
            continue
        stored = numpy_helper.from_array(half, init.name + "_float16")
        casts.append(helper.make_node("Cast", [stored.name], [init.name], to=onnx.TensorProto.FLOAT))
        graph.initializer[index].CopyFrom(stored)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_bundle(model: Captioner, saved: dict, out_dir: Path, float16_decoder: bool = False, **extra) -> dict:
    """Write encoder.onnx, decoder.onnx and model.json; float16_decoder rounds the decoder's weights
    to float16 and stores them at half size, in decoder.onnx and in the part of encoder.onnx that
    prepares the decoder's state (measure the scores before shipping such a bundle). The CNN stays
    float32: the export folds its batch norms into its convolutions, and a float16 copy of those
    differed from torch by 1.4e-2."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if float16_decoder:
        round_to_float16(model.decoder)
    export_onnx(model, out_dir)
    if float16_decoder:
        for name in ("encoder.onnx", "decoder.onnx"):
            store_weights_as_float16(out_dir / name)
    worst = check_against_torch(model, out_dir)
    extra.setdefault("provenance_check", {"max_abs_log_prob_diff_vs_torch": worst})
    extra.setdefault("weights", {"encoder": "float32", "decoder": "float16" if float16_decoder else "float32"})
    return write_model_json(model, saved, out_dir, extra)


def random_bundle(out_dir: Path, seed: int = 0, vocab_words: list[str] | None = None,
                  attention: bool = True, pretrained: bool = False) -> dict:
    """A small seeded random-weight bundle, for tests and for trying the runtime without a trained model."""
    torch.manual_seed(seed)
    words = [PAD, START, END, UNK] + (vocab_words or "a dog man woman runs on the grass in red ball".split())
    config = DecoderConfig(len(words), attention=attention, embed_dim=32, hidden_dim=64, feature_dim=64,
                           attention_dim=64, dropout=0.0)
    model = Captioner(config, encoder="lite0", pretrained=pretrained).eval()
    saved = {"config": config.to_dict(), "encoder": "lite0", "vocab": words, "max_len": 12,
             "decoder": model.decoder.state_dict()}
    return export_bundle(model, saved, out_dir, name=f"random-seed{seed}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="+",
                   help="best.pt from training.train; several make an ensemble (same encoder and vocabulary)")
    p.add_argument("out", type=Path, help="bundle directory to write")
    p.add_argument("--name", default="alttext-flickr8k")
    p.add_argument("--beam-size", type=int, default=3)
    p.add_argument("--length-penalty", type=float, default=1.0)
    p.add_argument("--mirror-candidates", action="store_true",
                   help="also decode the mirrored photo; its captions join the candidates (model.json)")
    p.add_argument("--float16-decoder", action="store_true",
                   help="store the decoder's weights as float16 (half its size)")
    args = p.parse_args(argv)
    model, saved = load_checkpoints(args.checkpoints)
    meta = export_bundle(model, saved, args.out, float16_decoder=args.float16_decoder, name=args.name,
                         beam_size=args.beam_size, length_penalty=args.length_penalty,
                         mirror_candidates=args.mirror_candidates)
    print(f"wrote {args.out} ({meta['name']}); ONNX Runtime vs torch max |d log-prob| "
          f"{meta['provenance_check']['max_abs_log_prob_diff_vs_torch']:.2e}")


if __name__ == "__main__":
    main()
