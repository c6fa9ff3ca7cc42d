"""Train the image-kind head on the encoder's pooled features and the image statistics, measure it,
and write it into a bundle as kinds.npz (README: "Image kinds").

    python -m training.kinds_train BUNDLE --data .cache/kinds --real .cache/real --flickr8k ../shared/data/flickr8k

Features come from alttext's own runtime (the bundle's encoder.onnx, image decoding, statistics) and
are cached beside the manifest. With --real (what training.real_images wrote), the real images' train
half joins the generated pictures, weighted REAL_WEIGHT times, and their held half is measured, beside
the head the bundle had before. Prints a per-kind precision/recall table on the held-out part of
each source, the share of held-out non-photos that would still get a photo caption, and the share
of Flickr8k test-split photos classified as photo.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from alttext.bundle import read_arrays
from alttext.captioner import Captioner
from alttext.images import open_image, squash
from alttext.kinds import DEFAULT_ACTIONS, HEAD_FILE, KINDS, STAT_NAMES, KindHead, decoration_rule, image_stats
from training.evaluate import open_bundle

PHOTO_RECALL = 0.99  # the photo threshold is lowered until this share of held-out photos stays photo
REAL_WEIGHT = 4.0  # a real image counts this many generated ones: they are fewer, and what the head meets


def read_manifest(data: Path) -> list[tuple[str, str, str, str]]:
    """(path, kind, source, split) per image; the real set's words column is left out."""
    return [tuple(line.split("\t")[:4]) for line in (data / "manifest.tsv").read_text().splitlines()]


def test_photos(flickr8k: Path, count: int) -> list[str]:
    names = (flickr8k / "Flickr8k_text" / "Flickr_8k.testImages.txt").read_text().split()
    random.Random(1).shuffle(names)
    return [str(flickr8k / "Flicker8k_Dataset" / n) for n in names[:count]]


def features(paths: list[str], captioner: Captioner, batch: int = 32) -> dict[str, np.ndarray]:
    """pooled (N, 1280), stats (N, S) and decoration-rule flags (N,) through alttext's runtime."""
    pooled, stats, rules = [], [], []
    for start in range(0, len(paths), batch):
        pictures = [open_image(Path(p).read_bytes(), p) for p in paths[start : start + batch]]
        pixels = np.stack([squash(picture, captioner.input_size) for picture in pictures])
        pooled.append(captioner.feed_image(pixels)[3])
        stats += [image_stats(picture) for picture in pictures]
        rules += [decoration_rule(picture, p) is not None for picture, p in zip(pictures, paths[start:])]
        print(f"  features {start + len(pictures)}/{len(paths)}", flush=True)
    return {"pooled": np.concatenate(pooled), "stats": np.stack(stats), "rule": np.array(rules)}


def cached_features(paths: list[str], captioner: Captioner, cache: Path) -> dict[str, np.ndarray]:
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as saved:
            if list(saved["paths"]) == paths:
                return {k: saved[k] for k in ("pooled", "stats", "rule")}
    found = features(paths, captioner)
    np.savez(cache, paths=np.array(paths), **found)
    return found


def train_mlp(x: np.ndarray, y: np.ndarray, classes: int, hidden: int, epochs: int, seed: int,
              weight: np.ndarray | None = None) -> dict:
    """A one-hidden-layer MLP, full batch, classes weighted to balance (each sample by `weight` too);
    returns kinds.npz's arrays."""
    torch.manual_seed(seed)
    weight = np.ones(len(y)) if weight is None else weight
    mean, std = x.mean(0), x.std(0) + 1e-6
    inputs, targets = torch.from_numpy((x - mean) / std), torch.from_numpy(y)
    model = nn.Sequential(nn.Dropout(0.2), nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, classes))
    per_class = np.bincount(y, weights=weight, minlength=classes).clip(1e-6)
    samples = torch.from_numpy(weight * weight.sum() / (classes * per_class[y])).float()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    for _ in range(epochs):
        optimiser.zero_grad()
        (nn.functional.cross_entropy(model(inputs), targets, reduction="none") * samples).mean().backward()
        optimiser.step()
    first, second = model[1], model[3]
    return {"mean": mean.astype(np.float32), "std": std.astype(np.float32),
            "w1": first.weight.detach().numpy().T.copy(), "b1": first.bias.detach().numpy(),
            "w2": second.weight.detach().numpy().T.copy(), "b2": second.bias.detach().numpy()}


def photo_threshold(head: KindHead, pooled: np.ndarray, stats: np.ndarray) -> float:
    """The largest threshold (at most 0.5) that keeps PHOTO_RECALL of these photos as photos."""
    p = head.probabilities(pooled, stats)[:, head.labels.index("photo")]
    return float(min(0.5, np.quantile(p, 1 - PHOTO_RECALL)))


def predict(head: KindHead, found: dict[str, np.ndarray]) -> list[str]:
    """The runtime's decision: the decoration rules first, then the head."""
    kinds = head.classify(found["pooled"], found["stats"])
    return ["decoration" if rule else kind.name for kind, rule in zip(kinds, found["rule"])]


def table(truth: list[str], predicted: list[str]) -> list[dict]:
    rows = []
    for kind in KINDS:
        hits = sum(t == p == kind for t, p in zip(truth, predicted))
        said, real = predicted.count(kind), truth.count(kind)
        rows.append({"kind": kind, "n": real, "precision": round(hits / said, 3) if said else None,
                     "recall": round(hits / real, 3) if real else None})
    return rows


def captioned_share(truth: list[str], predicted: list[str]) -> float:
    """Of the non-photos, the share whose kind would get a photo caption."""
    return round(float(np.mean([DEFAULT_ACTIONS[p] == "caption" for t, p in zip(truth, predicted) if t != "photo"])), 3)


def real_report(truth: list[str], predicted: list[str]) -> dict:
    return {"held_out": table(truth, predicted), "non_photos_captioned": captioned_share(truth, predicted),
            "accuracy": round(float(np.mean([t == p for t, p in zip(truth, predicted)])), 3)}


def report(truth: list[str], predicted: list[str], test_predicted: list[str]) -> dict:
    return {
        "held_out": table(truth, predicted),
        "accuracy": round(float(np.mean([t == p for t, p in zip(truth, predicted)])), 3),
        "non_photos_captioned": captioned_share(truth, predicted),
        "flickr8k_test_photos_as_photo": round(test_predicted.count("photo") / max(len(test_predicted), 1), 3),
        "flickr8k_test_photos": len(test_predicted),
    }


def print_table(rows: list[dict]) -> None:
    print("| kind | held-out images | precision | recall |\n| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['kind']} | {row['n']} | {row['precision']} | {row['recall']} |")


def print_report(result: dict) -> None:
    print_table(result["held_out"])
    for name in ("real_before", "real"):
        if name in result:
            print(f"{name}: real held-out images (accuracy {result[name]['accuracy']}, non-photos that would get "
                  f"a photo caption {result[name]['non_photos_captioned']:.1%}):")
            print_table(result[name]["held_out"])
    print(f"accuracy {result['accuracy']}; held-out non-photos that would get a photo caption: "
          f"{result['non_photos_captioned']:.1%} (target < 5%); Flickr8k test photos classified photo: "
          f"{result['flickr8k_test_photos_as_photo']:.1%} of {result['flickr8k_test_photos']} (target >= 98%)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="the bundle whose encoder gives the features; kinds.npz goes in it")
    p.add_argument("--data", type=Path, default=Path(".cache/kinds"), help="what training.kinds_data wrote")
    p.add_argument("--real", type=Path, help="what training.real_images wrote: its train half is trained on, "
                                             "its held half measured")
    p.add_argument("--flickr8k", type=Path, default=Path("../shared/data/flickr8k"))
    p.add_argument("--test-photos", type=int, default=500)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    bundle = open_bundle(args.bundle)
    captioner = Captioner(bundle)
    rows = read_manifest(args.data)
    encoder = bundle.meta["encoder"]
    found = cached_features([r[0] for r in rows], captioner, args.data / f"features-{encoder}.npz")
    tests = cached_features(test_photos(args.flickr8k, args.test_photos), captioner,
                            args.data / f"features-{encoder}-flickr8k-test.npz")
    labels = list(KINDS)
    y = np.array([labels.index(r[1]) for r in rows])
    train = np.array([r[3] == "train" for r in rows])
    x = np.concatenate([found["pooled"], found["stats"]], axis=1)
    weight = np.ones(int(train.sum()))
    x_train, y_train = x[train], y[train]
    if args.real:
        real_rows = read_manifest(args.real)
        real = cached_features([r[0] for r in real_rows], captioner, args.real / f"features-{encoder}.npz")
        real_train = np.array([r[3] == "train" for r in real_rows])
        real_y = np.array([labels.index(r[1]) for r in real_rows])
        x_train = np.concatenate([x_train, np.concatenate([real["pooled"], real["stats"]], axis=1)[real_train]])
        y_train = np.concatenate([y_train, real_y[real_train]])
        weight = np.concatenate([weight, np.full(int(real_train.sum()), REAL_WEIGHT)])
        real_held = {k: v[~real_train] for k, v in real.items()}
        real_truth = [r[1] for r, t in zip(real_rows, real_train) if not t]
    arrays = train_mlp(x_train, y_train, len(labels), args.hidden, args.epochs, args.seed, weight)
    arrays.update(labels=np.array(labels), stats=np.array(STAT_NAMES), encoder=np.array(encoder),
                  photo_threshold=np.array(0.5, np.float32))
    held = {k: v[~train] for k, v in found.items()}
    photos = (~train) & (y == labels.index("photo"))
    arrays["photo_threshold"] = np.array(
        photo_threshold(KindHead(arrays, ""), found["pooled"][photos], found["stats"][photos]), np.float32)
    head = KindHead(arrays, "")
    result = report([r[1] for r, t in zip(rows, train) if not t], predict(head, held), predict(head, tests))
    result["photo_threshold"] = round(head.photo_threshold, 4)
    if args.real:
        result["real"] = real_report(real_truth, predict(head, real_held))
        before = read_arrays(args.bundle / HEAD_FILE)
        if before is not None:
            result["real_before"] = real_report(real_truth, predict(KindHead(*before), real_held))
    print_report(result)
    np.savez(args.bundle / HEAD_FILE, report=np.array(json.dumps(result)), **arrays)
    print(f"wrote {args.bundle / HEAD_FILE}")


if __name__ == "__main__":
    main()
