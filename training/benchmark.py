"""Captioning speed of a bundle through alttext's runtime, in images per second.

    python -m training.benchmark alttext/models/default --images '../shared/data/flickr8k/Flicker8k_Dataset/*.jpg'

Measures the encoder alone and the whole caption (encoder + batched beam search) at several batch
sizes, after one warm-up batch each. Image decoding is done once, before timing.
"""

from __future__ import annotations

import argparse
import glob
import json
import platform
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from alttext.captioner import Captioner
from alttext.fetch import read_file
from alttext.images import load_pixels
from training.evaluate import open_bundle


def rate(fn, pixels: np.ndarray, batch: int) -> float:
    fn(pixels[:batch])  # warm-up: session start-up and CUDA kernel selection
    start = time.perf_counter()
    for i in range(0, len(pixels), batch):
        fn(pixels[i : i + batch])
    return len(pixels) / (time.perf_counter() - start)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--images", required=True, help="glob of image files")
    p.add_argument("--count", type=int, default=128)
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--batch-sizes", default="1,16,64")
    p.add_argument("--beam-size", type=int, default=None)
    args = p.parse_args(argv)

    bundle = open_bundle(args.model, args.device)
    captioner = Captioner(bundle, args.beam_size)
    paths = sorted(glob.glob(args.images))[: args.count]
    pixels = np.stack([load_pixels(read_file(Path(path)), path, captioner.input_size) for path in paths])
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        print(json.dumps({
            "device": bundle.device, "onnxruntime": ort.__version__, "cpu": platform.processor() or platform.machine(),
            "images": len(pixels), "batch": batch, "beam_size": captioner.beam_size,
            "encoder_images_per_s": round(rate(captioner.feed_image, pixels, batch), 1),
            "caption_images_per_s": round(rate(captioner.caption, pixels, batch), 1),
        }), flush=True)


if __name__ == "__main__":
    main()
