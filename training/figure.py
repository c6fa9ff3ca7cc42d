"""A picture of photos with the alt text a bundle writes for them, for the README.

    python -m training.figure alttext/models/default alttext/examples/*.jpg --out training/figures/examples.png
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from alttext.captioner import Captioner
from alttext.fetch import read_file
from alttext.images import load_pixels, open_image
from training.evaluate import open_bundle

TILE = 260
TEXT_LINES = 4


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--columns", type=int, default=4)
    args = p.parse_args(argv)

    captioner = Captioner(open_bundle(args.model))
    data = [read_file(path) for path in args.images]
    pixels = np.stack([load_pixels(d, str(path), captioner.input_size) for d, path in zip(data, args.images)])
    captions = captioner.caption(pixels)
    font = ImageFont.load_default(size=15)
    line_height = 19
    rows = -(-len(data) // args.columns)
    cell_h = TILE + TEXT_LINES * line_height + 16
    sheet = Image.new("RGB", (args.columns * (TILE + 10) + 10, rows * cell_h + 10), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (d, path, cap) in enumerate(zip(data, args.images, captions)):
        x, y = 10 + (i % args.columns) * (TILE + 10), 10 + (i // args.columns) * cell_h
        thumb = open_image(d, str(path))
        thumb.thumbnail((TILE, TILE))
        sheet.paste(thumb, (x + (TILE - thumb.width) // 2, y + (TILE - thumb.height) // 2))
        lines = textwrap.wrap(f"{cap.text} ({cap.confidence:.2f})", 32)[:TEXT_LINES]
        for j, line in enumerate(lines):
            draw.text((x, y + TILE + 6 + j * line_height), line, fill="black", font=font)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
