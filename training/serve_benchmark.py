"""Load on a real `alttext serve` (started here on 127.0.0.1, any free port), as the browser extension puts it.

    python -m training.serve_benchmark --images '../shared/data/flickr8k/Flicker8k_Dataset/*.jpg'

Every request carries pictures the service has not seen (so its memory does not answer). Measures:
one-image requests from 1, 8 and 32 clients at once (requests per second, p50 and p99 of the time to
the answer); pages of 65 and 200 images sent as the extension sends them (groups of 8, 3 requests at
once, the viewport first): time to the first alt, to the viewport's 8 and, for 65, to the last (the
200-image page is left after its viewport, as a reader scrolling away would); a keep-alive round trip;
the probes (16 distinct 88-megapixel 1-bit PNGs, then a 144-megapixel PNG after a batch): their
statuses and the service's peak memory (VmHWM).
"""

from __future__ import annotations

import argparse
import base64
import glob
import http.client
import io
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

GROUP = 8  # images per request, as the extension sends them
PARALLEL = 3  # requests at once per page, as the extension


class Pictures:
    """Distinct image files, each handed out once, base64-encoded."""

    def __init__(self, paths: list[str]):
        self.paths = iter(paths)
        self.lock = threading.Lock()

    def take(self, count: int) -> list[dict]:
        with self.lock:
            chosen = [next(self.paths) for _ in range(count)]
        return [{"source": path, "data": base64.b64encode(Path(path).read_bytes()).decode()} for path in chosen]


def post(port: int, images: list[dict], since: float | None = None, opened: list | None = None,
         sent: threading.Event | None = None) -> tuple[int, list[float], list[dict]]:
    """(status, seconds from `since` (default: sending) to each line, the lines) of one /v1/describe; the
    connection is added to `opened`, where another thread may hang it up (what came by then is returned);
    `sent` is set once the request is sent."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    if opened is not None:
        opened.append(connection)
    times, lines, status = [], [], 0
    try:
        start = since or time.perf_counter()
        connection.request("POST", "/v1/describe", json.dumps({"images": images}), {"Content-Type": "application/json"})
        if sent:
            sent.set()
        response = connection.getresponse()
        status = response.status
        while line := response.readline():
            times.append(time.perf_counter() - start)
            lines.append(json.loads(line))
    except (OSError, http.client.HTTPException, ValueError):
        if opened is None:
            raise
    finally:
        connection.close()
        if sent:
            sent.set()
    return status, times, lines


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def clients(port: int, pictures: Pictures, count: int, requests_each: int) -> dict:
    """`count` clients, each sending `requests_each` one-image requests in turn."""

    def client(_):
        return [post(port, pictures.take(1)) for _ in range(requests_each)]

    start = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        results = [r for rs in pool.map(client, range(count)) for r in rs]
    elapsed = time.perf_counter() - start
    latencies = [times[-1] for status, times, _ in results if status == 200 and times]
    return {"clients": count, "requests": len(results), "errors": sum(status != 200 for status, _, _ in results),
            "requests_per_s": round(len(results) / elapsed, 2), "p50_s": round(statistics.median(latencies), 2),
            "p99_s": round(percentile(latencies, 0.99), 2)}


def page(port: int, pictures: Pictures, count: int, whole: bool) -> dict:
    """A page's images sent as the extension sends them; `whole`: wait for every answer, else hang up once
    the first group (the viewport) is answered."""
    images = pictures.take(count)
    groups = [images[i:i + GROUP] for i in range(0, count, GROUP)]
    start = time.perf_counter()
    opened: list = []
    sent = [threading.Event() for _ in groups]

    def ask(k: int, hang_up: list | None = None):
        if k:  # in order, as the extension posts them
            sent[k - 1].wait(600)
        return post(port, groups[k], start, hang_up, sent[k])

    with ThreadPoolExecutor(PARALLEL) as pool:
        if whole:
            results = list(pool.map(ask, range(len(groups))))
        else:
            others = [pool.submit(ask, k, opened) for k in range(1, PARALLEL)]
            results = [ask(0)]
            for connection in opened:  # the reader scrolled away: the rest is not wanted
                connection.sock and connection.sock.shutdown(2)
            results += [other.result() for other in others]
    answered = sorted(t for _, times, _ in results for t in times)
    asked = results if whole else results[:1]  # the others were hung up on
    found = {"images": count, "errors": sum(status != 200 for status, _, _ in asked),
             "first_alt_s": round(answered[0], 2), "viewport_alts_s": round(sorted(results[0][1])[-1], 2)}
    if whole:
        found["last_alt_s"] = round(answered[-1], 2)
    return found


def keep_alive(port: int, rounds: int = 50) -> float:
    """Median seconds of a GET /v1/health on one kept-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        connection.request("GET", "/v1/health")
        connection.getresponse().read()
        times.append(time.perf_counter() - start)
    connection.close()
    return statistics.median(times)


def one_bit_pngs(count: int) -> list[bytes]:
    buffer = io.BytesIO()
    Image.new("1", (11000, 8000)).save(buffer, "PNG")
    whole = buffer.getvalue()

    def text(n: int) -> bytes:
        data = b"n\0" + str(n).encode()
        return struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))

    return [whole[:33] + text(n) + whole[33:] for n in range(count)]


def bomb_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buffer, "PNG")
    return buffer.getvalue()


def probes(port: int, pictures: Pictures) -> dict:
    big = [{"source": f"big{n}.png", "data": base64.b64encode(d).decode()} for n, d in enumerate(one_bit_pngs(16))]
    status_big, _, lines_big = post(port, big)
    post(port, pictures.take(4))
    status_bomb, _, lines_bomb = post(port, [{"source": "bomb.png", "data": base64.b64encode(bomb_png()).decode()}])
    return {"huge_pngs": [status_big, sorted({line["action"] for line in lines_big})],
            "bomb_after_batch": [status_bomb, lines_bomb[0]["action"], lines_bomb[0]["reason"]]}


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return float("nan")


def start_service(model: str | None, device: str) -> tuple[subprocess.Popen, int]:
    args = [sys.executable, "-m", "alttext", "serve", "--port", "0", "--device", device]
    if model:
        args += ["--model", model]
    child = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    line = child.stderr.readline()
    if "listening on" not in line:
        child.kill()
        raise SystemExit(f"serve_benchmark: the service did not start: {line.strip()}")
    threading.Thread(target=child.stderr.read, daemon=True).start()  # keep its log from filling the pipe
    return child, int(line.split()[3].rstrip(",").rsplit(":", 1)[1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="glob of image files (at least 400, all distinct)")
    p.add_argument("--model", default=None)
    p.add_argument("--device", default="cpu", choices=["auto", "cuda", "cpu"])
    p.add_argument("--out", type=Path, default=None, help="write the figures here as JSON too")
    args = p.parse_args(argv)
    paths = sorted(glob.glob(args.images))
    if len(paths) < 400:
        raise SystemExit(f"serve_benchmark: {args.images} names {len(paths)} files; 400 are needed")
    pictures = Pictures(paths)
    child, port = start_service(args.model, args.device)
    try:
        post(port, pictures.take(2))  # warm-up
        report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "device": args.device,
                  "keep_alive_health_ms": round(keep_alive(port) * 1000, 1),
                  "clients": [clients(port, pictures, n, each) for n, each in ((1, 8), (8, 3), (32, 1))],
                  "page_65": page(port, pictures, 65, whole=True),
                  "page_200": page(port, pictures, 200, whole=False),
                  "probes": probes(port, pictures), "peak_memory_mb": peak_memory_mb(child.pid)}
    finally:
        child.terminate()
        child.wait(60)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
