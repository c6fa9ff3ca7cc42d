"""Score an exported bundle on a split with the COCO caption scorer (pycocoevalcap), through
alttext's own inference: the same image loading, ONNX Runtime sessions and beam search users run.

    python -m training.evaluate alttext/models/default --data flickr8k:../shared/data/flickr8k --split test \\
        --out runs/eval-test.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from alttext.bundle import Bundle, load_bundle
from alttext.captioner import Captioner
from alttext.errors import ModelError
from alttext.fetch import read_file
from alttext.images import load_pixels
from training.data import Photo, read_dataset


def photo_batches(paths: list[Path], input_size: int, batch_size: int) -> Iterator[np.ndarray]:
    """The photos' pixels as users' images are loaded, in batches, decoded in parallel."""
    def pixels(path: Path):
        return load_pixels(read_file(path), str(path), input_size)

    with ThreadPoolExecutor(4) as pool:
        for i in range(0, len(paths), batch_size):
            yield np.stack(list(pool.map(pixels, paths[i : i + batch_size])))


def caption_photos(captioner: Captioner, paths: list[Path], batch_size: int) -> tuple[list, float]:
    """Captions of the photos in order, and the images per second of the whole run."""
    start = time.perf_counter()
    captions = [c for batch in photo_batches(paths, captioner.input_size, batch_size) for c in captioner.caption(batch)]
    return captions, len(paths) / (time.perf_counter() - start)


def coco_scores(refs: dict[str, list[str]], hyps: dict[str, str]) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    with contextlib.redirect_stdout(sys.stderr):  # the scorers print their workings
        tokenizer = PTBTokenizer()
        gts = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
        res = tokenizer.tokenize({k: [{"caption": v}] for k, v in hyps.items()})
        bleu, _ = Bleu(4).compute_score(gts, res)
        scores = {f"BLEU-{i + 1}": b for i, b in enumerate(bleu)}
        scores["METEOR"], _ = Meteor().compute_score(gts, res)
        scores["ROUGE-L"], _ = Rouge().compute_score(gts, res)
        scores["CIDEr"], _ = Cider().compute_score(gts, res)
    return {k: round(float(v), 4) for k, v in scores.items()}


def bundle_on_split_parser(description: str, split: str) -> argparse.ArgumentParser:
    """The arguments of the commands that run a bundle over one split of a dataset."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="bundle directory")
    p.add_argument("--data", required=True, help="as for training.train, e.g. flickr8k:DIR")
    p.add_argument("--split", default=split, choices=["train", "dev", "test"])
    p.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    return p


def open_bundle(path: Path, device: str = "cpu") -> Bundle:
    """load_bundle for the training commands: SystemExit with its one line when the bundle is unusable."""
    try:
        return load_bundle(path, device)
    except ModelError as error:
        raise SystemExit(str(error)) from None


def split_photos(args: argparse.Namespace) -> list[Photo]:
    photos = [ph for ph in read_dataset(args.data) if ph.split == args.split]
    return photos[: args.limit] if args.limit else photos


def main(argv=None):
    p = bundle_on_split_parser(__doc__, "dev")
    p.add_argument("--beam-size", type=int, default=None)
    p.add_argument("--length-penalty", type=float, default=None)
    p.add_argument("--no-consensus", action="store_true", help="ignore the bundle's neighbours.npz (no re-ranking)")
    p.add_argument("--no-mirror", action="store_true", help="no candidates from the mirrored photo")
    p.add_argument("--out", type=Path, help="JSON file for the scores and every caption")
    p.add_argument("--record", action="store_true", help="also write the scores into the bundle's model.json")
    args = p.parse_args(argv)

    photos = split_photos(args)
    bundle = open_bundle(args.model, args.device)
    captioner = Captioner(bundle, args.beam_size, rerank=not args.no_consensus,
                          mirror=False if args.no_mirror else None)
    if args.length_penalty is not None:
        captioner.length_penalty = args.length_penalty
    captions, speed = caption_photos(captioner, [ph.path for ph in photos], args.batch_size)
    names = [ph.path.name for ph in photos]
    scores = coco_scores({n: ph.captions for n, ph in zip(names, photos)},
                         {n: c.text for n, c in zip(names, captions)})
    report = {
        "model": bundle.meta.get("name"), "split": args.split, "images": len(photos),
        "beam_size": captioner.beam_size, "length_penalty": captioner.length_penalty, "mirror": captioner.mirror,
        "consensus": captioner.consensus.digest if captioner.consensus else None,
        "device": bundle.device, "images_per_second": round(speed, 1), "scores": scores,
        "captions": [{"image": n, "alt": c.text, "confidence": round(c.confidence, 4),
                      "word_probability": round(c.word_probability, 4),
                      "agreement": None if c.agreement is None else round(c.agreement, 4)}
                     for n, c in zip(names, captions)],
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.record:
        record_scores(args.model, report)
    print(json.dumps({k: v for k, v in report.items() if k != "captions"}))


def record_scores(bundle: Path, report: dict) -> None:
    """model.json's scores[split]: what the bundle scored, and how it was run."""
    meta_path = Path(bundle) / "model.json"
    meta = json.loads(meta_path.read_text())
    keep = ("images", "beam_size", "length_penalty", "mirror", "consensus", "scores")
    meta.setdefault("scores", {})[report["split"]] = {k: report[k] for k in keep}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
