"""Benchmark group commit: cheap commands over HTTP against raw locked INSERT + NOTIFY, in the
same run, at the same concurrency (issue 12 item 3, target ratio 1.0).

Run `python bench/bench_group_commit.py [--runs 3] [--seconds 3] [--workers 2] [--threads 16]
[--clients 32] [--users 1000]` (PostgreSQL only: group commit is its recorder's).

- Baseline: `--clients` psycopg connections, each looping BEGIN; LOCK TABLE ... IN EXCLUSIVE
  MODE; INSERT one row (RETURNING its id) into a table shaped like the event store's; NOTIFY;
  COMMIT: what the store did per command before group commit, without the API around it.
- Server: a real `upare serve` (`--workers` gthread workers of `--threads` threads, no worker
  beside it) on the same database, loaded by wrk with `--clients` connections, each logged in
  as a user of its own: `POST /api/calendar/add` (a to-do event), then `POST
  /api/user/friendmake` (the connection's user and the next of `--users` other users).
  Any answer but 200 is counted and printed; a measure that lost requests (wrk's timeout,
  socket errors) or got no 200 at all stops the benchmark.

Each run measures each command right after a baseline of its own (the machine's load
moves). Prints the server's CPU milliseconds a command (gunicorn and the worker that
projects it), then `BENCH group_commit_<name>: <v> requests/s; raw <b> commits/s; ratio vs
raw locked INSERT+NOTIFY <median> (<min>-<max> over <n> runs) (target 1.0)`.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import psycopg
from fresh import fresh_container
from serving import redis_env, running_server

from commands.users import RegisterUser
from domain.passwords import hash_password
from upare import sessions
from upare.bootstrap import Container, build_cache
from upare.settings import Settings

PASSWORD = "correct horse battery"  # noqa: S105 (the benchmark's throwaway accounts)
START = "2026-12-10T09:00:00%2B00:00"
RAW_TABLE = (
    "CREATE TABLE raw_events (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
    " topic text, state bytea, notification_id bigserial,"
    " PRIMARY KEY (originator_id, originator_version));"
    " CREATE UNIQUE INDEX ON raw_events (notification_id)"
)
# each wrk thread (one connection) takes turns as its own USERS users; `request` builds its
# next call from `path`, a user's next friend being the next of `fids`
WRK_SCRIPT = """
local sids = {%(sids)s}
local fids = {%(fids)s}
local made = 0
setup = function(thread) thread:set("id", made); made = made + 1 end
init = function(args) n = %(offset)d end
request = function()
  n = n + 1
  local user = id * %(users)d + n %% %(users)d
  local fid = fids[(math.floor(n / %(users)d) + user) %% #fids + 1]
  local path = string.format("%(path)s", fid)
  return wrk.format("POST", path, {["Cookie"] = "sid=" .. sids[user + 1]})
end
"""
# users a connection takes turns as: a caller's request waits until the read models it reads
# pass its previous write (api/freshness.py), so one user calling back to back would measure
# the projections' lag rather than the commit
USERS = 8
# the store's connections in each server process (eventsourcing's pool; 5 and 10 more by
# default): commits need one, the threads' reads share the others
POOL = {"POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "6"}
# longer than any wait of the server's (read-your-writes 5 s, friendmake's `wait` 0 here)
WRK_TIMEOUT = 10
CALLS = {
    "calendar_add": f"/api/calendar/add?title=bench&start={START}",
    "friendmake": "/api/user/friendmake?fid=%d",
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=16, help="threads per gunicorn worker")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--users", type=int, default=1000, help="users friendmake makes friends")
    return parser.parse_args()


def connect(url: str, seconds: int = 60) -> psycopg.Connection:
    """Open an autocommit connection, waiting (at most `seconds`) while the server has no
    connection to spare (max_connections: it may be shared with other clients)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as ex:
            if "too many clients" not in str(ex) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def raw_commits(url: str, clients: int, seconds: int) -> float:
    """Return the commits per second of `clients` connections doing the raw locked insert."""
    counts = [0] * clients
    opened = [connect(url) for _ in range(clients)]  # all, or fail

    def loop(number: int) -> None:
        state, connection = os.urandom(200), opened[number]
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            with connection.transaction():
                connection.execute("LOCK TABLE raw_events IN EXCLUSIVE MODE")
                connection.execute(
                    "INSERT INTO raw_events (originator_id, originator_version, topic, state)"
                    " VALUES (%s, 1, 'raw', %s) RETURNING notification_id",
                    (uuid.uuid4(), state),
                ).fetchone()
                connection.execute("NOTIFY raw_events")
            counts[number] += 1

    try:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(loop, range(clients)))
    finally:
        for connection in opened:
            connection.close()
    return sum(counts) / seconds


def register(container: Container, count: int) -> list[int]:
    """Register `count` users through the bus (one precomputed hash); return their uids."""
    one_hash = hash_password(PASSWORD)
    commands = [
        RegisterUser(username=f"user{n}", password=PASSWORD, email=f"user{n}@example.com")
        for n in range(count)
    ]
    with (
        mock.patch("commands.users.hash_password", lambda password: one_hash),
        ThreadPoolExecutor(8) as pool,
    ):
        return [done.fields["uid"] for done in pool.map(container.bus.execute, commands)]


def wrk(url: str, script: str, clients: int, seconds: int) -> tuple[float, int]:
    """Load `url` with wrk (one thread a connection) running `script`; return the answers of
    status 200 a second, and how many others there were.

    wrk does not count a request it gave up on (its timeout) or lost (a socket error) among
    its answers: a run where the server stalled would measure nothing, or only the calls
    that came through. Such a run, or one without a single 200, stops the benchmark."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", f"-t{clients}", f"-c{clients}", f"-d{seconds}s", "-s", lua.name]
        command += ["--timeout", f"{WRK_TIMEOUT}s", url]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"wrk failed: {done.stdout}{done.stderr}")
    found = re.search(r"(\d+) requests in ([\d.]+)(m?s)", done.stdout)
    assert found, done.stdout
    answers, took = int(found.group(1)), float(found.group(2))
    took /= 1000 if found.group(3) == "ms" else 1
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    others = int(failed.group(1)) if failed else 0
    if "Socket errors" in done.stdout or answers == others:
        raise SystemExit(f"lost or no 200 answers from {url}:\n{done.stdout}")
    return (answers - others) / took, others


def main() -> None:
    args = arguments()
    mail = tempfile.TemporaryDirectory(prefix="upare-bench-mail-")
    with mail, fresh_container("postgres", mail_url=f"file://{mail.name}") as container:
        url = container.settings.database_url
        print(
            f"# postgres; {os.cpu_count()} cores; {args.workers} gthread workers x"
            f" {args.threads} threads; {args.clients} clients; {args.seconds} s a measure"
        )
        callers = args.clients * USERS
        uids = register(container, callers + args.users)
        container.close()  # its connections: the shared server has few to spare
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(RAW_TABLE)
        env = {"UPARE_DATABASE_URL": url, **redis_env(), **POOL}
        with running_server(args.workers, env, with_worker=True, threads=args.threads) as server:
            cache = build_cache(
                Settings(
                    data_dir=Path(server.folder),
                    redis_url=env.get("UPARE_REDIS_URL", ""),
                    redis_prefix=env.get("UPARE_REDIS_PREFIX", ""),
                )
            )
            sids = [sessions.open_session(cache, uid) for uid in uids[:callers]]
            quoted = ", ".join(f'"{sid}"' for sid in sids)
            fids = ", ".join(str(uid) for uid in uids[callers:])
            made = 0  # friendmakes so far, so that no pair is made twice

            def measure(name: str, seconds: int) -> tuple[float, int]:
                nonlocal made
                path = CALLS[name].replace("%", "%%").replace("%%d", "%d")
                script = WRK_SCRIPT % {
                    "sids": quoted,
                    "fids": fids,
                    "offset": made,
                    "users": USERS,
                    "path": path,
                }
                rate, failed = wrk(server.url, script, args.clients, seconds)
                made += 2 * int(rate * seconds / args.clients) + USERS  # the fastest did more
                return rate, failed

            for name in CALLS:
                measure(name, args.seconds)  # warm-up: first calls open connections
            raws: dict[str, list[float]] = {name: [] for name in CALLS}
            rates: dict[str, list[float]] = {name: [] for name in CALLS}
            failures = dict.fromkeys(CALLS, 0)
            cpu: dict[str, list[float]] = {name: [] for name in CALLS}  # ms a command
            for _ in range(args.runs):
                for name in CALLS:  # each right after its own baseline: the load moves
                    raws[name].append(raw_commits(url, args.clients, args.seconds))
                    spent = server.cpu_seconds()
                    rate, failed = measure(name, args.seconds)
                    rates[name].append(rate)
                    failures[name] += failed
                    cpu[name].append((server.cpu_seconds() - spent) * 1000 / (rate * args.seconds))
    print(
        "# server CPU ms a command (gunicorn and its worker projecting it; median): "
        + "; ".join(f"{name} {statistics.median(cpu[name]):.2f}" for name in CALLS)
    )
    for name, found in rates.items():
        ratios = [rate / raw for rate, raw in zip(found, raws[name], strict=True)]
        print(
            f"BENCH group_commit_{name}: {statistics.median(found):.0f} requests/s;"
            f" raw {statistics.median(raws[name]):.0f} commits/s; ratio vs raw locked INSERT+NOTIFY"
            f" {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f} over"
            f" {len(ratios)} runs) (target 1.0); {failures[name]} answers not 200;"
            f" by run {', '.join(f'{ratio:.2f}' for ratio in ratios)}"
        )


if __name__ == "__main__":
    main()
