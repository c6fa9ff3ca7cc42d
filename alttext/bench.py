"""`alttext bench`: how fast alt text is on this machine, in about a minute.

With the bundle (the bundled model unless --model) on the device it would run on: the encoder alone
and the whole caption (encoder, beam search, re-ranking) on decoded images at several batch sizes;
then image files to descriptions through the same Describer that `caption` and `fill` use, in turns
with the encoder alone (their ratio holds on a busy machine), with each stage's share of that time;
then the latency of one image. Images: the bundled examples unless
--images names others, reused in turn to fill the batches.
"""

from __future__ import annotations

import functools
import glob
import json
import platform
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import numpy as np
import onnxruntime as ort
import typer

from alttext.options import DeviceOption, ModelOption, QualityOption, check_device, check_quality, say

EXAMPLES = Path(__file__).resolve().parent / "examples"
CPU_BATCHES = (1, 8, 32)
GPU_BATCHES = (1, 8, 32, 256)


class StageClock:
    """Wall time spent in named calls, summed; a call inside another is counted in both; nothing while paused."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.paused = False

    def wrap(self, owner, method: str, stage: str) -> None:
        """Time every call of owner.method (an instance attribute shadows the class's method)."""
        inner = getattr(owner, method)

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                if not self.paused:
                    self.seconds[stage] += time.perf_counter() - start

        setattr(owner, method, timed)

    def reset(self) -> None:
        self.seconds.clear()


def watch(describer, clock: StageClock) -> None:
    """Time each step of the data path inside describer(...); shares() turns the nested totals into
    exclusive ones."""
    captioner = describer.captioner
    clock.wrap(describer, "_describe", "model")
    clock.wrap(describer, "_kinds", "kinds")
    clock.wrap(describer, "_evidence", "evidence")
    clock.wrap(describer.reader, "read", "ocr")
    clock.wrap(captioner.bundle.encoder, "run", "encoder")
    clock.wrap(captioner.bundle.decoder, "run", "decoder")
    clock.wrap(captioner, "beam_search", "search")
    clock.wrap(captioner, "_choose", "choose")
    if captioner.consensus:
        clock.wrap(captioner.consensus, "references", "neighbours")
    if describer.detector:
        clock.wrap(describer.detector, "detect", "detector")
        clock.wrap(describer.detector, "raw", "detector graph")
    if describer.pose:
        clock.wrap(describer.pose, "bodies", "pose")


def shares(seconds: dict[str, float]) -> dict[str, float]:
    """Exclusive share of the total per stage on the calling thread, from the nested totals that watch()
    records. The evidence runs in a second thread beside the search: its share is apart, not in these."""
    s = defaultdict(float, seconds)
    total = s["total"] or 1.0
    own = {
        "read and decode": s["total"] - s["model"],
        "encoder": s["encoder"],
        "decoder (ONNX)": s["decoder"],
        "beam search (numpy)": s["search"] - s["decoder"],
        "re-ranking": s["neighbours"] + s["choose"],
        "kinds": s["kinds"],
        "ocr": s["ocr"],
    }
    own["other"] = total - sum(own.values())
    return {k: round(max(v, 0.0) / total, 3) for k, v in own.items()}


def rate(fn, items: list, batch: int, seconds: float) -> float:
    """Items per second of fn over batches of `items` (cycled), after one warm-up batch, for at
    least `seconds` and at least one batch."""
    batches = [items[i : i + batch] for i in range(0, len(items) - batch + 1, batch)] or [items[:batch]]
    fn(batches[0])
    done, start = 0, time.perf_counter()
    while True:
        for b in batches:
            fn(b)
            done += len(b)
            if time.perf_counter() - start >= seconds:
                return done / (time.perf_counter() - start)


def speeds(captioner, pixels: list[np.ndarray], batch: int, seconds: float) -> dict[str, float]:
    """Images per second of the encoder alone and of the whole caption, on decoded images."""
    return {
        "encoder_images_per_s": round(rate(lambda b: captioner.feed_image(np.stack(b)), pixels, batch, seconds), 1),
        "caption_images_per_s": round(rate(lambda b: captioner.caption(np.stack(b)), pixels, batch, seconds), 1),
    }


def cycled(items: list, count: int) -> list:
    return [items[i % len(items)] for i in range(count)]


def image_paths(pattern: str | None) -> list[Path]:
    found = sorted(glob.glob(pattern)) if pattern else sorted(str(p) for p in EXAMPLES.glob("*.jpg"))
    return [Path(p) for p in found if Path(p).is_file()]


def describe_files(describer, paths: list[Path]) -> list:
    """JPEG files to descriptions, as `caption` does: read, then describe."""
    from alttext.fetch import read_file

    return describer([(str(p), read_file(p)) for p in paths])


def in_turns(describer, clock: StageClock, files: list[Path], pixels: np.ndarray,
             seconds: float) -> tuple[float, float]:
    """Images per second end to end (files -> descriptions, the stages timed by clock) and of the encoder
    alone on as many decoded images, batch for batch in turns for at least `seconds`, so that a machine
    busy with other work slows both alike and their ratio holds."""
    encoder_seconds, images = 0.0, 0
    start = time.perf_counter()
    while not images or time.perf_counter() - start < seconds:
        clock.paused = True
        begin = time.perf_counter()
        describer.captioner.feed_image(pixels)
        encoder_seconds += time.perf_counter() - begin
        clock.paused = False
        begin = time.perf_counter()
        describe_files(describer, files)
        clock.seconds["total"] += time.perf_counter() - begin
        images += len(files)
    return images / clock.seconds["total"], images / encoder_seconds


def latencies(describer, paths: list[Path], seconds: float) -> list[float]:
    """Seconds per image, one image at a time, at least 10 of them."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 10 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        describe_files(describer, [paths[len(times) % len(paths)]])
        times.append(time.perf_counter() - t)
    return times


def run_bench(model=None, device: str = "auto", quality: str = "default", images: str | None = None,
              seconds: float = 3.0, batches: list[int] | None = None) -> dict:
    from alttext.describe import make_describer
    from alttext.fetch import read_file
    from alttext.images import load_pixels

    paths = image_paths(images)
    if not paths:
        raise typer.BadParameter(f"{images!r} matches no image files", param_hint="--images")
    describer = make_describer(model, device, quality=quality)
    captioner, bundle = describer.captioner, describer.captioner.bundle
    batches = batches or (GPU_BATCHES if bundle.device == "cuda" else CPU_BATCHES)
    pixels = [load_pixels(read_file(p), str(p), captioner.input_size) for p in paths]
    pool = cycled(pixels, max(batches))
    rows = [{"batch": batch, **speeds(captioner, pool, batch, seconds)} for batch in batches]
    top = rows[-1]
    clock = StageClock()
    watch(describer, clock)
    describer.batch_size = top["batch"]
    files = cycled(paths, top["batch"])
    describe_files(describer, files)  # warm-up, so the stage shares are of steady work
    clock.reset()
    end_to_end, encoder = in_turns(describer, clock, files, np.stack(pool[: top["batch"]]), 2 * seconds)
    stage_shares = shares(clock.seconds)
    total = clock.seconds["total"]
    beside = {f"{stage.replace(' ', '_')}_beside_the_search": round(clock.seconds.get(stage, 0.0) / total, 3)
              for stage in ("evidence", "detector", "detector graph", "pose")}  # before the latency runs add to them
    times = latencies(describer, paths, seconds)
    return {
        "model": bundle.meta.get("name"), "quality": quality, "decoding": captioner.decoding,
        "device": bundle.device, "provider": bundle.encoder.get_providers()[0], "note": bundle.device_note,
        "onnxruntime": ort.__version__, "machine": platform.processor() or platform.machine(),
        "images": [p.name for p in paths][:8] + (["..."] if len(paths) > 8 else []),
        "batches": rows,
        "end_to_end": {"batch": top["batch"], "images_per_s": round(end_to_end, 1),
                       "encoder_images_per_s": round(encoder, 1), "of_encoder": round(end_to_end / encoder, 3),
                       "stages": stage_shares, **beside},
        "latency_ms": {"images": len(times), "p50": round(float(np.percentile(times, 50)) * 1000, 1),
                       "p99": round(float(np.percentile(times, 99)) * 1000, 1)},
    }


def table(report: dict) -> str:
    e2e, lat = report["end_to_end"], report["latency_ms"]
    lines = [f"{report['model']} ({report['decoding']}) on {report['device']} via {report['provider']}, "
             f"onnxruntime {report['onnxruntime']}",
             "", f"{'batch':>5}  {'encoder img/s':>13}  {'caption img/s':>13}"]
    lines += [f"{r['batch']:>5}  {r['encoder_images_per_s']:>13}  {r['caption_images_per_s']:>13}"
              for r in report["batches"]]
    lines += ["", f"end to end (file -> alt text), batch {e2e['batch']}: {e2e['images_per_s']} images/s, "
              f"{e2e['of_encoder']:.0%} of the encoder alone ({e2e['encoder_images_per_s']} images/s in turns with it)",
              "  " + ", ".join(f"{k} {v:.0%}" for k, v in e2e["stages"].items()),
              f"  beside the search, in a second thread: the evidence (detector, ImageNet, pose) "
              f"{e2e['evidence_beside_the_search']:.0%} of the time (the detector "
              f"{e2e['detector_beside_the_search']:.0%}, its graph {e2e['detector_graph_beside_the_search']:.0%}; "
              f"the pose model {e2e['pose_beside_the_search']:.0%})",
              f"one image at a time: p50 {lat['p50']} ms, p99 {lat['p99']} ms ({lat['images']} images)"]
    return "\n".join(lines)


def bench(
    model: ModelOption = None,
    device: DeviceOption = "auto",
    quality: QualityOption = "default",
    images: Annotated[str | None, typer.Option("--images", help="Glob of image files (default: the examples).")] = None,
    seconds: Annotated[float, typer.Option("--seconds", min=0.01, help="Seconds per measurement.")] = 3.0,
    batch_sizes: Annotated[str | None, typer.Option("--batch-sizes", help="e.g. 1,8,32 (default: 1,8,32; "
                                                    "1,8,32,256 on a GPU); end to end runs at the last.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
):
    """How fast alt text is here: encoder and caption images/s per batch, end to end, latency."""
    from alttext.errors import ModelError

    check_device(device)
    check_quality(quality)
    try:
        batches = [int(b) for b in batch_sizes.split(",")] if batch_sizes else None
    except ValueError:
        raise typer.BadParameter(f"{batch_sizes!r} is not a list of numbers", param_hint="--batch-sizes") from None
    try:
        report = run_bench(model, device, quality, images, seconds, batches)
    except ModelError as e:
        say(str(e))
        raise typer.Exit(1) from None
    typer.echo(json.dumps(report, indent=1) if as_json else table(report))
