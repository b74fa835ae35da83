"""Benchmark Image/disorder: the tile scramble alone and the whole `disorder()` call.

Run `python bench/bench_disorder.py [repeat]`. Each benchmark prints one line:
`BENCH <name>: <value> MP/s; baseline <value> MP/s; ratio <value/baseline> (target ...)`,
all medians over `repeat` runs (default 7) after one warm-up run, on a 4000x3000 RGB image.

- disorder_encrypt: `scramble_pixels` at block 16 on random noise (the array work: key
  derivation, permutation, tile move; no decoding or encoding), against `arr.copy()` of the
  same array.
- disorder_full: `disorder()` encrypting an upload end to end (checks, decode, scramble, PNG
  encode), against Pillow decoding the same upload and encoding it as PNG with the same
  settings, i.e. the cost the endpoint cannot avoid. The upload is a photo-like JPEG, because
  12 MP of noise is ~34 MiB in any lossless format, far over the 5 MiB upload limit.

- disorder_http: the same upload as a real `POST /api/Image/disorder` to `upare serve` over
  loopback, against the in-process `disorder()` call (the ratio is the share of the request
  time spent in the work itself).
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import requests
from PIL import Image
from serving import running_server

from domain.disorder import PNG_COMPRESS_LEVEL, disorder, scramble_pixels

WIDTH, HEIGHT = 4000, 3000
BLOCK = 16
KEY = "bench-key"
MEGAPIXELS = WIDTH * HEIGHT / 1e6


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Return the median wall time of `repeat` calls of `fn`, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_line(name: str, seconds: float, baseline_seconds: float, target: str) -> str:
    """Return the `BENCH` line for a run over MEGAPIXELS, against its baseline."""
    value, baseline = MEGAPIXELS / seconds, MEGAPIXELS / baseline_seconds
    return (
        f"BENCH {name}: {value:.1f} MP/s; baseline {baseline:.1f} MP/s; "
        f"ratio {value / baseline:.3f} ({target})"
    )


def noise_pixels() -> np.ndarray:
    """Return a HEIGHT x WIDTH RGB array of uniform random noise."""
    return np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def photo_jpeg() -> bytes:
    """Return a photo-like HEIGHT x WIDTH RGB JPEG (smooth shapes plus sensor noise)."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    bands = [
        128 + 100 * np.sin(cols / 157 + phase) * np.cos(rows / 211 - phase) for phase in (0, 1, 2)
    ]
    grain = np.random.default_rng(1).normal(0, 6, (HEIGHT, WIDTH, 3))
    pixels = np.clip(np.stack(bands, axis=-1) + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def bench_encrypt(repeat: int) -> str:
    """Time the array scramble against a plain copy of the same array."""
    pixels = noise_pixels()
    seconds = median_seconds(lambda: scramble_pixels(pixels, KEY, BLOCK), repeat)
    baseline = median_seconds(pixels.copy, repeat)
    return bench_line("disorder_encrypt", seconds, baseline, "target 0.2")


def bench_full(repeat: int) -> str:
    """Time `disorder()` against Pillow's decode of the upload plus a PNG encode."""
    upload = photo_jpeg()

    def decode_encode() -> bytes:
        with Image.open(io.BytesIO(upload)) as image:
            buffer = io.BytesIO()
            image.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
        return buffer.getvalue()

    seconds = median_seconds(lambda: disorder(upload, KEY, BLOCK), repeat)
    baseline = median_seconds(decode_encode, repeat)
    return bench_line("disorder_full", seconds, baseline, "target report")


def bench_http(repeat: int) -> str:
    """Time POST /api/Image/disorder on a real server against the same `disorder()` call."""
    upload = photo_jpeg()
    baseline = median_seconds(lambda: disorder(upload, KEY, BLOCK), repeat)
    with running_server() as server, requests.Session() as session:

        def request() -> None:
            answer = session.post(
                f"{server.url}/api/Image/disorder",
                data={"key": KEY, "block": str(BLOCK)},
                files={"image": ("photo.jpg", upload)},
                timeout=60,
            )
            answer.raise_for_status()

        seconds = median_seconds(request, repeat)
    return (
        f"BENCH disorder_http: {seconds * 1000:.0f} ms per 12 MP request; baseline "
        f"{baseline * 1000:.0f} ms in process; ratio {baseline / seconds:.3f} (target report)"
    )


def main(argv: list[str]) -> None:
    """Run every benchmark and print its line."""
    repeat = int(argv[1]) if len(argv) > 1 else 7
    for bench in (bench_encrypt, bench_full, bench_http):
        print(bench(repeat), flush=True)


if __name__ == "__main__":
    main(sys.argv)
