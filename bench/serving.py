"""What the HTTP benchmarks share: a real `upare serve`, and calls per second under load."""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

REDIS_URL = os.environ.get("UPARE_REDIS_URL") or "redis://127.0.0.1:6379/0"


def arguments(description: str, runs: int, backends: bool = True) -> argparse.Namespace:
    """Parse the options every HTTP benchmark takes: runs, their seconds, server workers,
    client threads and (with `backends`) the backend."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    if backends:
        parser.add_argument("--backend", choices=["auto", "postgres", "sqlite"], default="auto")
    return parser.parse_args()


def redis_env() -> dict[str, str]:
    """Return the settings of a Redis cache under a prefix of its own, if Redis answers."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return {}
    return {"UPARE_REDIS_URL": REDIS_URL, "UPARE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex}:"}


@dataclass(frozen=True)
class Server:
    """A running `upare serve`: its URL, its data folder, and its process id."""

    url: str
    folder: Path
    pid: int

    def cpu_seconds(self) -> float:
        """Return the CPU time (user and system) its processes have spent so far: `upare
        serve` (gunicorn's master), the gunicorn workers and its `upare worker`."""
        processes: dict[int, tuple[int, int]] = {}  # pid: (parent, ticks)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # it ended meanwhile
                continue
            processes[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        tree, grown = {self.pid}, True
        while grown:
            found = {pid for pid, (parent, _) in processes.items() if parent in tree}
            grown, tree = not found <= tree, tree | found
        ticks = sum(processes[pid][1] for pid in tree if pid in processes)
        return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """Return a port free on the loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until `url` answers (30 s at most): a benchmark must not measure a server that is
    not there."""
    for _ in range(300):
        try:
            requests.get(url, timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy
            time.sleep(0.1)
    raise SystemExit(f"{process.args[0]} did not come up on {url} (exit {process.poll()})")


@contextmanager
def running_server(
    workers: int = 1,
    env: dict[str, str] | None = None,
    with_worker: bool = False,
    threads: int = 1,
) -> Iterator[Server]:
    """Start `upare serve` (embedded, in a temp folder, gunicorn with `workers` processes of
    `threads` threads) and yield it. Only `env` sets UPARE_* settings (not `make bench`'s
    UPARE_KAFKA_BOOTSTRAP)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        upare = str(Path(sys.executable).with_name("upare"))
        command = [upare, "serve", "--port", str(port), "--workers", str(workers)]
        command += ["--threads", str(threads)]
        inherited = {name: value for name, value in os.environ.items() if name[:6] != "UPARE_"}
        process = subprocess.Popen(
            [*command, "--with-worker" if with_worker else "--no-with-worker"],
            env={**inherited, "UPARE_DATA_DIR": folder, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{url}/openapi.json", process)
            yield Server(url, Path(folder), process.pid)
        finally:
            process.terminate()
            process.wait(timeout=20)


def calls_in_threads(
    call: Callable[[int], object], threads: int, seconds: float
) -> tuple[int, float]:
    """Return how many calls `threads` threads make together, each calling `call(thread
    number)` over and over for `seconds`, and the seconds they took."""
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
    return sum(counts), time.perf_counter() - started


def _count_for(call: Callable[[], object], seconds: float) -> tuple[int, float]:
    count, cpu, deadline = 0, time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        call()
        count += 1
    return count, time.process_time() - cpu


def calls_in_processes(
    call: Callable[[], object], processes: int, seconds: float
) -> tuple[int, float]:
    """Return how many calls `processes` processes make together in `seconds` (as gunicorn's
    workers would, with no GIL between them), and the CPU seconds they spent; `call` must be
    picklable."""
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_count_for, [call] * processes, [0.2] * processes))  # up and warm
        futures = [pool.submit(_count_for, call, seconds) for _ in range(processes)]
        done = [future.result() for future in futures]
    return sum(count for count, _ in done), sum(cpu for _, cpu in done)


def paired_runs(
    server: Server,
    baseline: Callable[[], object],
    request: Callable[[int], None],
    args: argparse.Namespace,
) -> dict[str, list[float]]:
    """Measure, run after run, the baseline and the server one right after the other.

    Each run: `baseline` in `args.workers` processes (`baselines`: calls/s; `baseline_cpu`:
    their CPU ms a call), then `request` from `args.clients` threads (`rates`: requests/s;
    `cpu`: all the server's processes' CPU ms a request), for `args.seconds` each.
    """
    calls_in_threads(request, args.clients, 1)  # warm-up
    found: dict[str, list[float]] = {"rates": [], "baselines": [], "cpu": [], "baseline_cpu": []}
    for _ in range(args.runs):
        done, cpu = calls_in_processes(baseline, args.workers, args.seconds)
        found["baselines"].append(done / args.seconds)
        found["baseline_cpu"].append(cpu * 1000 / done)
        cpu = server.cpu_seconds()
        calls, seconds = calls_in_threads(request, args.clients, args.seconds)
        found["cpu"].append((server.cpu_seconds() - cpu) * 1000 / calls)
        found["rates"].append(calls / seconds)
    return found
