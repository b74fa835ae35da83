"""Benchmark the request path: read queries against a bare Falcon app's no-op route, and
token-checked requests against the same request unauthenticated, over HTTP, in the same run.

Run `python bench/bench_requests.py [--runs 3] [--seconds 3] [--workers 2] [--threads 4]
[--connections 32]` (the workers and threads default to `upare serve`'s).

A real `upare serve` (gunicorn, its settings, no worker: nothing is written) on a fresh
PostgreSQL database with Redis as its cache, seeded through the commands with two users who
are friends; beside it, gunicorn with the same settings (`upare.cli.gunicorn_argv`) serving
bench/bare_app.py, a bare Falcon app whose one route answers `{"status": "ok"}`. The load
generator is wrk (Debian's `wrk`; `apt-get install -y wrk`) with `--connections` keep-alive
connections. Each run measures, one right after the other and in rotating order:

- `noop`: `GET /noop` on the bare app;
- `info`: `GET /api/User/info?uid=N`, anonymous;
- `info_token`: the same with `Authorization: Bearer` (a token in the cache, with rates set
  high enough never to refuse: the token is still resolved, scope-checked and counted);
- `info_cookie`: the same with the session cookie `sid` of a logged-in user;
- `friends`: `POST /api/User/friends` with that session cookie (a query needs a user).

Prints the serving processes' CPU milliseconds a request of each (user and system, the
gunicorn master and workers: the bare app's for `noop`), then, with the median and range of
the per-run ratios, `BENCH request_info`,
`BENCH request_friends` (against `noop`, target 0.7), `BENCH request_token` and
`BENCH request_cookie` (against `info`, target 0.8).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from fresh import fresh_container, pick_backend
from serving import Server, free_port, redis_env, running_server, wait_for

from commands.friends import MakeFriend
from commands.users import RegisterUser
from domain.keys import digest
from domain.passwords import hash_password
from upare import sessions
from upare.bootstrap import build_cache
from upare.cli import SERVE_THREADS, SERVE_WORKERS, gunicorn_argv
from upare.settings import Settings
from workers.store_feed import StoreFeed

PASSWORD = "correct horse battery"  # noqa: S105 (the seeded users')
NEVER = "100000000/minute"  # token rates that the benchmark never reaches
RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
DONE = re.compile(r"([0-9]+) requests in")
FAILED = re.compile(r"Non-2xx or 3xx responses: ([0-9]+)|Socket errors: .*")
TARGETS = {  # name: (measured, against, target)
    "request_info": ("info", "noop", 0.7),
    "request_friends": ("friends", "noop", 0.7),
    "request_token": ("info_token", "info", 0.8),
    "request_cookie": ("info_cookie", "info", 0.8),
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=SERVE_WORKERS, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=SERVE_THREADS, help="threads per worker")
    parser.add_argument("--connections", type=int, default=32)
    return parser.parse_args()


@contextmanager
def bare_server(workers: int, threads: int) -> Iterator[Server]:
    """Serve bench/bare_app.py with `upare serve`'s gunicorn settings; yield it."""
    port = free_port()
    argv = gunicorn_argv("127.0.0.1", port, workers, threads, "bare_app:application")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen(
        [gunicorn, f"--pythonpath={Path(__file__).parent}", *argv[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/noop", process)
        yield Server(url, Path(__file__).parent, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=20)


def wrk(
    url: str, connections: int, seconds: int, method: str, headers: dict[str, str]
) -> tuple[float, int]:
    """Return the requests/s wrk makes on `url`, and how many; fail on any answer but 2xx."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(f'wrk.method = "{method}"\n')
        script.flush()
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script.name]
        command += [part for name, value in headers.items() for part in ("-H", f"{name}: {value}")]
        out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if FAILED.search(out):
        raise SystemExit(f"wrk saw failures on {url}:\n{out}")
    rate, done = RATE.search(out), DONE.search(out)
    assert rate and done, out
    return float(rate.group(1)), int(done.group(1))


def seed(container: object) -> tuple[int, int]:
    """Register two users and make them friends, through the bus; project them."""
    one_hash = hash_password(PASSWORD)
    with mock.patch("commands.users.hash_password", lambda password: one_hash):
        uids = [
            container.bus.execute(  # type: ignore[attr-defined]
                RegisterUser(username=f"bench{n}", password=PASSWORD, email=f"b{n}@example.com")
            ).fields["uid"]
            for n in range(2)
        ]
    container.bus.execute(MakeFriend(uid=uids[0], fid=uids[1]))  # type: ignore[attr-defined]
    feed = StoreFeed(container.log, container.db, container.projections)  # type: ignore[attr-defined]
    while feed.run_once():
        pass
    return uids[0], uids[1]


def main() -> None:
    args = arguments()
    if shutil.which("wrk") is None:
        raise SystemExit("bench_requests needs wrk: apt-get install -y wrk")
    if pick_backend("auto") != "postgres" or not redis_env():
        raise SystemExit("bench_requests needs PostgreSQL and Redis: bash scripts/services.sh up")
    mail = tempfile.TemporaryDirectory(prefix="upare-bench-mail-")  # the codes' mails
    with mail, fresh_container("postgres", mail_url=f"file://{mail.name}") as container:
        uid, _friend = seed(container)
        env = {
            "UPARE_DATABASE_URL": container.settings.database_url,
            "UPARE_OAUTH_CLIENT_RATE": NEVER,
            "UPARE_OAUTH_TOKEN_RATE": NEVER,
            **redis_env(),
        }
        print(
            f"# postgres, cache on Redis; {os.cpu_count()} cores; {args.workers} workers of"
            f" {args.threads} threads; wrk, {args.connections} connections;"
            f" {args.runs} runs of {args.seconds} s each"
        )
        with (
            running_server(args.workers, env, threads=args.threads) as server,
            bare_server(args.workers, args.threads) as bare,
        ):
            cache = build_cache(
                Settings(
                    data_dir=server.folder,
                    redis_url=env["UPARE_REDIS_URL"],
                    redis_prefix=env["UPARE_REDIS_PREFIX"],
                )
            )
            token = uuid.uuid4().hex + uuid.uuid4().hex
            sessions.cache_token(
                cache,
                digest(token),
                uid=uid,
                client_id="100000000000001",
                scopes=["user_info"],
                expires_at=time.time() + 3600,
                authorization=uuid.uuid4().hex,
            )
            cookie = {"Cookie": f"sid={sessions.open_session(cache, uid)}"}
            info = f"/api/User/info?uid={uid}"
            calls = {
                "noop": (bare, "/noop", "GET", {}),
                "info": (server, info, "GET", {}),
                "info_token": (server, info, "GET", {"Authorization": f"Bearer {token}"}),
                "info_cookie": (server, info, "GET", cookie),
                "friends": (server, "/api/User/friends", "POST", cookie),
            }
            for serving, path, method, headers in calls.values():  # warm-up; all answer 2xx
                wrk(serving.url + path, args.connections, 1, method, headers)
            rates: dict[str, list[float]] = {name: [] for name in calls}
            cpu: dict[str, list[float]] = {name: [] for name in calls}  # server ms a request
            names = list(calls)
            for run in range(args.runs):
                for name in names[run % len(names) :] + names[: run % len(names)]:
                    serving, path, method, headers = calls[name]
                    spent = serving.cpu_seconds()
                    url = serving.url + path
                    rate, done = wrk(url, args.connections, args.seconds, method, headers)
                    rates[name].append(rate)
                    cpu[name].append((serving.cpu_seconds() - spent) * 1000 / done)
    print(
        "# server CPU ms a request (median): "
        + "; ".join(f"{name} {statistics.median(cpu[name]):.2f}" for name in calls)
    )
    for name, (measured, against, target) in TARGETS.items():
        ratios = [a / b for a, b in zip(rates[measured], rates[against], strict=True)]
        print(
            f"BENCH {name}: {statistics.median(rates[measured]):.0f} requests/s; {against}"
            f" {statistics.median(rates[against]):.0f}; ratio {statistics.median(ratios):.2f}"
            f" ({min(ratios):.2f}-{max(ratios):.2f} over {args.runs} runs) (target {target})"
        )


if __name__ == "__main__":
    main()
