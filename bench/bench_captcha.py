"""Benchmark captchas: images per second over HTTP against drawing the same images in process.

Run `python bench/bench_captcha.py [--runs 9] [--seconds 2] [--workers 2] [--clients 4]`.

- captcha_http: `GET /api/Image/captcha` (png, the default) to a real `upare serve` on the
  embedded default, from `--clients` threads, each on its own session (its first captcha made
  it): drawing, remembering the answer in the SQLite cache, answering the image. Baseline:
  `upare.captchas.draw` of a fresh answer in as many processes as gunicorn has workers: the
  drawing alone, with the same parallelism. Each run measures both, one after the other.
- captcha_cpu: the CPU time all the server's processes spent per image during those runs,
  against the baseline processes' CPU time per drawing (steadier on a busy machine).

Prints `BENCH captcha_http: <v> images/s; baseline <b> images/s; ratio <median> (<min>-<max>
over <n> runs) (target report)` and `BENCH captcha_cpu: <x> ms an image; baseline <y> ms a
drawing; ratio <y/x> (target report)`, medians throughout.
"""

from __future__ import annotations

import os
import statistics

import requests
from serving import arguments, paired_runs, running_server

from upare import captchas


def draw_one() -> bytes:
    return captchas.draw(captchas.new_answer())


def main() -> None:
    args = arguments(__doc__.splitlines()[0], runs=9, backends=False)
    print(f"# {os.cpu_count()} cores; {args.workers} workers; {args.clients} clients")
    with running_server(args.workers, with_worker=True) as server:
        browsers = [requests.Session() for _ in range(args.clients)]

        def fetch(number: int) -> None:  # each browser keeps the session its first captcha made
            answer = browsers[number].get(f"{server.url}/api/Image/captcha", timeout=30)
            answer.raise_for_status()

        found = paired_runs(server, draw_one, fetch, args)
    median = {name: statistics.median(values) for name, values in found.items()}
    ratios = [rate / base for rate, base in zip(found["rates"], found["baselines"], strict=True)]
    print(
        f"BENCH captcha_http: {median['rates']:.1f} images/s; baseline {median['baselines']:.1f}"
        f" images/s (drawn in {args.workers} processes); ratio {statistics.median(ratios):.2f}"
        f" ({min(ratios):.2f}-{max(ratios):.2f} over {args.runs} runs) (target report)"
    )
    print(
        f"BENCH captcha_cpu: {median['cpu']:.1f} ms of server CPU an image; baseline"
        f" {median['baseline_cpu']:.1f} ms a drawing;"
        f" ratio {median['baseline_cpu'] / median['cpu']:.2f}"
        " (target report)"
    )


if __name__ == "__main__":
    main()
