"""Frozen-encoder feature cache: each photo is encoded once, stored as float16, reused by every epoch.
With --finetune-blocks N the cache holds what the encoder's last N blocks read, and training runs those."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from alttext.fetch import read_file
from alttext.images import load_pixels
from training.model import Encoder, normalise

log = logging.getLogger(__name__)
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "features"


class _Images(Dataset):
    def __init__(self, paths: list[Path], size: int):
        self.paths, self.size = paths, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        # the runtime's own loader, so that training sees the pixels users' images will give
        path = Path(self.paths[i])
        return torch.from_numpy(load_pixels(read_file(path), str(path), self.size).copy())


def cache_path(paths: list[Path], encoder: str, cache_dir: Path, top_blocks: int = 0) -> Path:
    key = hashlib.sha256("\n".join(str(p.resolve()) for p in paths).encode()).hexdigest()[:16]
    below = f"-below{top_blocks}" if top_blocks else ""
    return Path(cache_dir) / f"{encoder}{below}-{len(paths)}-{key}.npy"


def grid_features(
    paths: list[Path], encoder: str, cache_dir: Path = DEFAULT_CACHE, device: str = "cpu",
    batch_size: int = 64, workers: int = 2, top_blocks: int = 0,
) -> np.ndarray:
    """(N, 1280, H, W) float16 features of the photos, read from the cache or computed into it; with
    top_blocks, the input of the encoder's last top_blocks blocks instead."""
    target = cache_path(paths, encoder, cache_dir, top_blocks)
    if target.exists():
        return np.load(target, mmap_mode="r")
    model = Encoder(encoder).to(device).eval()
    loader = DataLoader(_Images(paths, model.input_size), batch_size=batch_size, num_workers=workers)
    out = None
    done = 0
    log.info("encoding %d photos with %s on %s into %s", len(paths), encoder, device, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.npy")
    with torch.inference_mode():
        for batch in loader:
            images = normalise(batch).to(device)
            grid = (model.trunk(images, top_blocks) if top_blocks else model(images)).half().cpu().numpy()
            if out is None:
                out = np.lib.format.open_memmap(partial, "w+", np.float16, (len(paths), *grid.shape[1:]))
            out[done : done + len(grid)] = grid
            done += len(grid)
    out.flush()
    del out
    partial.rename(target)
    return np.load(target, mmap_mode="r")
