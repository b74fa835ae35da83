"""What the HTTP benchmarks share: a real `upare serve`, and calls per second under load."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import redis
import requests

REDIS_URL = os.environ.get("UPARE_REDIS_URL") or "redis://127.0.0.1:6379/0"


def redis_env() -> dict[str, str]:
    """Return the settings of a Redis cache under a prefix of its own, if Redis answers."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return {}
    return {"UPARE_REDIS_URL": REDIS_URL, "UPARE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex}:"}


@contextmanager
def running_server(
    workers: int = 1, env: dict[str, str] | None = None, with_worker: bool = False
) -> Iterator[tuple[str, Path]]:
    """Start `upare serve` (embedded, in a temp folder, gunicorn with `workers` processes);
    yield its URL and its data folder. Only `env` sets UPARE_* settings (not `make bench`'s
    UPARE_KAFKA_BOOTSTRAP)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        upare = str(Path(sys.executable).with_name("upare"))
        command = [upare, "serve", "--port", str(port), "--workers", str(workers)]
        inherited = {name: value for name, value in os.environ.items() if name[:6] != "UPARE_"}
        process = subprocess.Popen(
            [*command, "--with-worker" if with_worker else "--no-with-worker"],
            env={**inherited, "UPARE_DATA_DIR": folder, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    requests.get(f"{url}/openapi.json", timeout=1)
                    break
                except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy
                    time.sleep(0.1)
            yield url, Path(folder)
        finally:
            process.terminate()
            process.wait(timeout=20)


def per_second_in_threads(call: Callable[[int], object], threads: int, seconds: float) -> float:
    """Return how many calls per second `threads` threads make together, each calling
    `call(thread number)` over and over for `seconds`."""
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def loop(number: int) -> None:
        while time.perf_counter() < deadline:
            call(number)
            counts[number] += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def _count_for(call: Callable[[], object], seconds: float) -> int:
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        call()
        count += 1
    return count


def per_second_in_processes(call: Callable[[], object], processes: int, seconds: float) -> float:
    """Return how many calls per second `processes` processes make together (as gunicorn's
    workers would, with no GIL between them); `call` must be picklable."""
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_count_for, [call] * processes, [0.2] * processes))  # up and warm
        futures = [pool.submit(_count_for, call, seconds) for _ in range(processes)]
        return sum(future.result() for future in futures) / seconds
