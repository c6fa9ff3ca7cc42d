"""Choose a bundle's review threshold (model.json `min_confidence`) on the dev split.

    python -m training.evaluate BUNDLE --data flickr8k:DIR --split dev --out runs/dev.json
    python -m training.calibrate runs/dev.json --data flickr8k:DIR --bundle BUNDLE --max-unrelated 0.05

A caption counts as unrelated when its own CIDEr-D against the photo's five references is under
--unrelated-below. With --fit-confidence and a report that has each caption's agreement with the
neighbours (a bundle with neighbours.npz), the confidence is first refitted: a logistic model of
"the caption is related" on the log of the words' geometric mean probability and that agreement,
written as model.json's "confidence" (alttext/captioner.py, caption_confidence). It captions many
more dev photos at the same share of unrelated captions, but trusts photos unlike Flickr's too
much (README: "Results"), so the shipped bundle does without it. For each threshold the table gives the
share of photos that still get a caption and the share of those captions that are unrelated; the
chosen threshold is the lowest whose unrelated share is at most --max-unrelated. With --non-photos
(the manifest training.kinds_data wrote), the held-out pictures that are not photos are captioned
too, and the table gives the share of them whose caption would clear each threshold if the kind
head took them for photos.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from alttext.captioner import caption_confidence
from alttext.cider import CiderD
from training.data import read_dataset
from training.vocab import tokenize


def per_image_cider(report: dict, data: str) -> np.ndarray:
    photos = {p.path.name: p for p in read_dataset(data) if p.split == report["split"]}
    scorer = CiderD({c["image"]: [tokenize(r) for r in photos[c["image"]].captions] for c in report["captions"]})
    return np.array([scorer.score(c["image"], tokenize(c["alt"])) for c in report["captions"]])


def fit_confidence(word_probability: np.ndarray, agreement: np.ndarray, related: np.ndarray) -> dict:
    """Logistic regression of `related` on [1, log word probability, agreement] (Newton's method,
    a little L2 so that a separable dev split still gives finite weights)."""
    x = np.stack([np.ones_like(agreement), np.log(np.maximum(word_probability, 1e-12)), agreement], axis=1)
    y = related.astype(float)
    w = np.zeros(3)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        gradient = x.T @ (p - y) + 1e-3 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + 1e-3 * np.eye(3)
        w -= np.linalg.solve(hessian, gradient)
    return {"intercept": float(w[0]), "log_word_probability": float(w[1]), "agreement": float(w[2])}


def report_confidence(report: dict, cider: np.ndarray, unrelated_below: float,
                      fit: bool) -> tuple[np.ndarray, dict | None]:
    """With `fit`, each caption's confidence under a model refitted on this report, and that model;
    otherwise, or without agreements in the report, the confidences it holds and None."""
    captions = report["captions"]
    if not fit or not captions or any(c.get("agreement") is None for c in captions):
        return np.array([c["confidence"] for c in captions]), None
    word_probability = np.array([c["word_probability"] for c in captions])
    agreement = np.array([c["agreement"] for c in captions])
    model = fit_confidence(word_probability, agreement, cider >= unrelated_below)
    return np.array([caption_confidence(model, w, a) for w, a in zip(word_probability, agreement)]), model


def non_photo_confidence(manifest: Path, bundle: Path, model: dict | None) -> np.ndarray:
    """Caption confidence of the held-out non-photo pictures of training.kinds_data (under `model`,
    when one was fitted)."""
    from alttext.captioner import Captioner
    from training.evaluate import caption_photos, open_bundle

    rows = [line.split("\t") for line in manifest.read_text().splitlines()]
    paths = [Path(path) for path, kind, _, split in rows if kind != "photo" and split != "train"]
    captioner = Captioner(open_bundle(bundle))
    if model is not None:
        captioner.confidence_model = model
    captions, _ = caption_photos(captioner, paths, 32)
    return np.array([c.confidence for c in captions])


def table(confidence: np.ndarray, cider: np.ndarray, unrelated_below: float, others: np.ndarray | None) -> list[dict]:
    rows = []
    for t in np.round(np.arange(0.0, 1.0, 0.025), 3):
        kept = confidence >= t
        rows.append({
            "threshold": float(t),
            "captioned": round(float(kept.mean()), 3),
            "unrelated_among_captioned": round(float((cider[kept] < unrelated_below).mean()), 3) if kept.any() else 0.0,
            "mean_cider_d_captioned": round(float(cider[kept].mean()), 3) if kept.any() else 0.0,
            **({"non_photos_over": round(float((others >= t).mean()), 3)} if others is not None else {}),
        })
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report", type=Path, help="JSON written by training.evaluate on the dev split")
    p.add_argument("--data", required=True)
    p.add_argument("--bundle", type=Path, help="write the chosen threshold into this bundle's model.json")
    p.add_argument("--unrelated-below", type=float, default=0.1)
    p.add_argument("--max-unrelated", type=float, default=0.05)
    p.add_argument("--fit-confidence", action="store_true",
                   help="refit the confidence on the words' probability and the agreement with the neighbours")
    p.add_argument("--non-photos", type=Path, help="manifest.tsv of training.kinds_data (needs --bundle)")
    args = p.parse_args(argv)

    report = json.loads(args.report.read_text())
    cider = per_image_cider(report, args.data)
    confidence, model = report_confidence(report, cider, args.unrelated_below, args.fit_confidence)
    if model:
        print(f"confidence model: {json.dumps(model)}")
    elif args.fit_confidence:
        print(f"{args.report}: no agreement with neighbours in it (a bundle without neighbours.npz?); "
              "the confidence stays the words' probability", file=sys.stderr)
    others = non_photo_confidence(args.non_photos, args.bundle, model) if args.non_photos and args.bundle else None
    rows = table(confidence, cider, args.unrelated_below, others)
    for row in rows:
        print(json.dumps(row))
    chosen = next((r for r in rows if r["unrelated_among_captioned"] <= args.max_unrelated), rows[-1])
    print(f"chosen threshold {chosen['threshold']}: {chosen['captioned']:.1%} of dev photos captioned, "
          f"{chosen['unrelated_among_captioned']:.1%} of those unrelated")
    if args.bundle:
        meta_path = args.bundle / "model.json"
        meta = json.loads(meta_path.read_text())
        meta["min_confidence"] = chosen["threshold"]
        if model:
            meta["confidence"] = model
        else:
            meta.pop("confidence", None)
        meta["calibration"] = {"split": report["split"], "unrelated_below_cider_d": args.unrelated_below,
                               "max_unrelated": args.max_unrelated, "table": rows}
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
