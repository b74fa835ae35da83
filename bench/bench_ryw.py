"""Benchmark read-your-writes: how long after a command its write is visible to queries.

Run `python bench/bench_ryw.py [--samples 200] [--backend auto|postgres|sqlite]`. Each sample
registers a user (`RegisterUser`, as the API does) and, from the moment the command returned
its position, waits until the users projection's watermark passes it.

- ryw_store: through the embedded store feed, waiting as the API's queries do
  (`queries.freshness.wait_for` woken by the feeds' NOTIFY on PostgreSQL, a 5 ms poll on
  SQLite). Baseline: the same wait done as eventsourcing's `TrackingRecorder.wait` does it
  (look, then sleep 100 ms, doubling up to 800 ms), on interleaved samples.
- ryw_kafka: only when UPARE_KAFKA_BOOTSTRAP is set and the relay and projector exist: the
  same through store -> relay -> Kafka -> projector (a topic and group of its own), with the
  ryw_store figures as its baseline.

Prints `BENCH ryw_store: p50 <x> ms; p99 <y> ms; baseline p50 <bx> ms; p99 <by> ms; ratio
<by/y> (p99)` and the same for ryw_kafka.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fresh import fresh_container, pick_backend

from commands.users import RegisterUser
from projections.wakeup import Listen
from projections.watermark import watermark
from queries.freshness import wait_for
from upare.bootstrap import Container
from workers.store_feed import StoreFeed

Wait = Callable[[int], bool]
PASSWORD = "correct horse"  # noqa: S105 (a benchmark's throwaway accounts)


def poll_like_eventsourcing(container: Container) -> Wait:
    """Return a wait that polls like eventsourcing's TrackingRecorder.wait (100 ms upwards)."""

    def wait(position: int) -> bool:
        deadline, pause = time.monotonic() + 5, 0.1
        while watermark(container.db, "users") < position:
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.8)
        return True

    return wait


@contextmanager
def waiting_like_queries(container: Container) -> Iterator[Wait]:
    """Yield the wait the API's queries use; stop its listener after."""
    wakeup = container.db.wakeup()
    try:
        yield lambda position: wait_for(container.db, ["users"], position, wakeup=wakeup)
    finally:
        if isinstance(wakeup, Listen):
            wakeup.close()


def latencies(container: Container, waits: dict[str, Wait], samples: int) -> dict[str, list]:
    """Register `samples` users per wait, interleaved; return each wait's latencies in ms."""
    found: dict[str, list[float]] = {name: [] for name in waits}
    for n in range(samples):
        for name, wait in waits.items():
            user = f"{name}-user{n}"
            done = container.bus.execute(
                RegisterUser(username=user, password=PASSWORD, email=f"{user}@x.io"),
            )
            started = time.perf_counter()
            if not wait(done.position):
                raise SystemExit(f"{name}: position {done.position} not visible within 5 s")
            found[name].append((time.perf_counter() - started) * 1000)
    return found


def percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def line(name: str, mine: list[float], baseline: list[float], label: str) -> str:
    (p50, p99), (b50, b99) = percentiles(mine), percentiles(baseline)
    return (
        f"BENCH {name}: p50 {p50:.1f} ms; p99 {p99:.1f} ms; baseline ({label}) p50 {b50:.1f} ms;"
        f" p99 {b99:.1f} ms; ratio {b99 / p99:.1f} (p99)"
    )


@contextmanager
def running(*loops: Callable[[threading.Event], None]) -> Iterator[None]:
    """Run loops in threads for the duration of the block."""
    stop = threading.Event()
    threads = [threading.Thread(target=loop, args=(stop,), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def bench_store(backend: str, samples: int) -> list[float]:
    with fresh_container(backend) as container:
        feed = StoreFeed(container.log, container.db, container.projections)
        with running(feed.run), waiting_like_queries(container) as wait:
            waits = {"q": wait, "b": poll_like_eventsourcing(container)}
            latencies(container, {"warm-up": wait}, 3)  # the listener connects
            found = latencies(container, waits, samples)
    print(line("ryw_store", found["q"], found["b"], "TrackingRecorder.wait-style 100 ms poll"))
    return found["q"]


def bench_kafka(backend: str, samples: int, store_figures: list[float]) -> None:
    bootstrap = os.environ["UPARE_KAFKA_BOOTSTRAP"]
    os.environ["UPARE_KAFKA_TOPIC"] = f"upare.bench.{uuid.uuid4().hex[:8]}"
    os.environ["UPARE_KAFKA_GROUP"] = f"upare-bench-{uuid.uuid4().hex[:8]}"
    from upare.cli_pipeline import projector_loop, relay_loop

    with fresh_container(backend, kafka_bootstrap=bootstrap) as container:
        pipeline = running(relay_loop(container), projector_loop(container))
        with pipeline, waiting_like_queries(container) as wait:
            latencies(container, {"warm-up": wait}, 3)  # the consumer group forms
            found = latencies(container, {"q": wait}, samples)
    print(line("ryw_kafka", found["q"], store_figures, "embedded store feed"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--backend", choices=["auto", "postgres", "sqlite"], default="auto")
    args = parser.parse_args()
    backend = pick_backend(args.backend)
    print(f"# {backend}, {args.samples} samples per figure")
    store_figures = bench_store(backend, args.samples)
    pipeline = all(importlib.util.find_spec(f"workers.{name}") for name in ("relay", "projector"))
    if os.environ.get("UPARE_KAFKA_BOOTSTRAP") and pipeline:
        bench_kafka(backend, args.samples, store_figures)
    else:
        print("# ryw_kafka skipped: set UPARE_KAFKA_BOOTSTRAP (and have workers/relay, projector)")


if __name__ == "__main__":
    main()
