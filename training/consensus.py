"""Write neighbours.npz into a bundle, for consensus re-ranking (alttext/consensus.py): the training
photos' pooled features from the bundle's own encoder, projected by PCA and normalised, with their
captions. The defaults were chosen on the dev split (README: "Results").

    python -m training.consensus alttext/models/default --data flickr8k:../shared/data/flickr8k
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from alttext.captioner import Captioner
from alttext.consensus import FILE
from training.data import Photo
from training.evaluate import bundle_on_split_parser, open_bundle, photo_batches, split_photos
from training.vocab import tokenize


def pooled_features(captioner: Captioner, paths: list[Path], batch_size: int) -> np.ndarray:
    return np.concatenate([captioner.feed_image(batch)[3] for batch in photo_batches(paths, captioner.input_size,
                                                                                      batch_size)])


def neighbour_arrays(pooled: np.ndarray, photos: list[Photo], encoder: str, dims: int, neighbours: int,
                     weight: float) -> dict[str, np.ndarray]:
    mean = pooled.mean(axis=0)
    _, _, components = np.linalg.svd(pooled - mean, full_matrices=False)
    projection = components[:dims].T
    keys = (pooled - mean) @ projection
    keys /= np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
    sentences = [(i, " ".join(tokenize(c))) for i, photo in enumerate(photos) for c in photo.captions]
    return {
        "encoder": np.array(encoder), "mean": mean.astype(np.float32), "projection": projection.astype(np.float16),
        "keys": keys.astype(np.float16),
        "captions": np.frombuffer("\n".join(s for _, s in sentences).encode("utf-8"), np.uint8),
        "caption_photo": np.array([i for i, _ in sentences], np.int32),
        "neighbours": np.array(neighbours), "weight": np.array(weight),
    }


def main(argv=None):
    p = bundle_on_split_parser(__doc__, "train")
    p.add_argument("--dims", type=int, default=256, help="PCA dimensions kept of the pooled feature")
    p.add_argument("--neighbours", type=int, default=25, help="training photos whose captions are consulted")
    p.add_argument("--weight", type=float, default=1.5, help="agreement's weight beside the log-probability")
    args = p.parse_args(argv)

    photos = split_photos(args)
    bundle = open_bundle(args.model, args.device)
    pooled = pooled_features(Captioner(bundle, rerank=False), [ph.path for ph in photos], args.batch_size)
    arrays = neighbour_arrays(pooled, photos, bundle.meta["encoder"], min(args.dims, *pooled.shape),
                              args.neighbours, args.weight)
    target = Path(args.model) / FILE
    partial = target.with_name(target.name + ".partial.npz")
    np.savez_compressed(partial, **arrays)
    os.replace(partial, target)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB): {len(photos)} photos, "
          f"{len(arrays['caption_photo'])} captions, {arrays['keys'].shape[1]} dimensions")


if __name__ == "__main__":
    main()
