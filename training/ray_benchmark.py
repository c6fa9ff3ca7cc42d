"""Ray actors against one: distinct photos described per second by `fill --ray`'s pool
(alttext/distributed.py) with 1 and with 2 actors on a local Ray instance, after each actor has
loaded its model and described one chunk. A model-bound job: no pages, no cache.

    python -m training.ray_benchmark --images '../shared/data/flickr8k/Flicker8k_Dataset/3*.jpg' --count 128

Ray gives each CPU actor OMP_NUM_THREADS=1, so each actor's ONNX Runtime sessions run one thread.
Prints each run's images/s ([workers, images/s]; with --rounds, pools of each size in turns), the
images/s per pool size over all its runs, the ratio to the first size, and whether every pool wrote
the same descriptions.
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path


def describe_seconds(settings: dict, workers: int, items: list[tuple[str, bytes]]) -> tuple[float, list[dict]]:
    import ray

    from alttext.distributed import RayDescriber

    pool = RayDescriber(settings, workers=workers)
    ray.get([actor.describe.remote(items[: pool.batch_size]) for actor in pool.actors])  # warm
    start = time.perf_counter()
    found = pool(items)
    seconds = time.perf_counter() - start
    pool.close()
    return seconds, [d.as_dict() for d in found]


def main(argv=None):
    import ray

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="glob of photos")
    p.add_argument("--count", type=int, default=128, help="distinct photos described by each pool")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=1, help="pools of each size, in turns (a busy machine changes)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--quality", default="default", choices=["default", "fast"])
    p.add_argument("--model", default=None)
    args = p.parse_args(argv)
    paths = [Path(f) for f in sorted(glob.glob(args.images))[: args.count]]
    if not paths:
        raise SystemExit(f"{args.images!r} matches no files")
    items = [(str(path), path.read_bytes()) for path in paths]
    settings = {"model": args.model, "device": "cpu", "batch_size": args.batch_size, "quality": args.quality}
    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False)
    seconds, outputs, runs = dict.fromkeys(args.workers, 0.0), [], []
    for _ in range(args.rounds):
        for workers in args.workers:
            spent, found = describe_seconds(settings, workers, items)
            seconds[workers] += spent
            outputs.append(found)
            runs.append([workers, round(len(items) / spent, 2)])
    rates = {workers: args.rounds * len(items) / spent for workers, spent in seconds.items()}
    ray.shutdown()
    first = args.workers[0]
    print(json.dumps({"images": len(items), "batch_size": args.batch_size, "quality": args.quality,
                      "runs": runs, "images_per_s": {w: round(r, 2) for w, r in rates.items()},
                      "of_first": {w: round(r / rates[first], 3) for w, r in rates.items()},
                      "same_descriptions": all(found == outputs[0] for found in outputs)}))


if __name__ == "__main__":
    main()
