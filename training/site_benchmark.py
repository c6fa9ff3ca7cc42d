"""How `alttext fill` scales with a site: N generated pages sharing a pool of photos, filled twice
(the second run is served by the caption cache), timed end to end through the CLI.

    python -m training.site_benchmark --pages 10000 --photos '../shared/data/flickr8k/Flicker8k_Dataset/1*.jpg'
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_site(root: Path, pages: int, photos: list[str], per_page: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    (root / "img").mkdir(parents=True)
    for i, photo in enumerate(photos):
        shutil.copy(photo, root / "img" / f"p{i}.jpg")
    for p in range(pages):
        imgs = "\n".join(f'<p>Item {k}</p><img src="/img/p{rng.randrange(len(photos))}.jpg">' for k in range(per_page))
        folder = root / f"section{p % 50}"
        folder.mkdir(exist_ok=True)
        (folder / f"page{p}.html").write_text(f"<!doctype html><html><body><h1>Page {p}</h1>\n{imgs}\n</body></html>\n")


def fill(root: Path, cache: Path, model: str | None) -> float:
    cmd = [sys.executable, "-m", "alttext", "fill", str(root), "--dry-run"] + (["--model", model] if model else [])
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "ALTTEXT_CACHE_DIR": str(cache)})
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=2000)
    p.add_argument("--per-page", type=int, default=5)
    p.add_argument("--photos", required=True, help="glob of photos to share between the pages")
    p.add_argument("--count", type=int, default=40, help="distinct photos")
    p.add_argument("--model", default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "site", Path(tmp) / "cache"
        make_site(root, args.pages, sorted(glob.glob(args.photos))[: args.count], args.per_page)
        cold, warm = fill(root, cache, args.model), fill(root, cache, args.model)
    print(json.dumps({"pages": args.pages, "images": args.pages * args.per_page, "distinct": args.count,
                      "cold_s": round(cold, 1), "warm_s": round(warm, 1),
                      "warm_pages_per_s": round(args.pages / warm, 1)}))


if __name__ == "__main__":
    main()
