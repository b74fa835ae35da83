"""Benchmark `upare projections rebuild users` against eventsourcing's ProjectionRunner and a
decode-only scan of the same events, in the same run.

Run `python bench/bench_rebuild.py [--events 100000] [--big 1000000] [--backend auto|postgres|
sqlite]`; it prints `BENCH rebuild users: <v> events/s; ProjectionRunner <b> events/s; ratio
<r> (target 25); decode-only scan <s> events/s; ratio <q> (target 0.3); peak RSS <m> MB`, and
with `--big N` `BENCH rebuild users scale: ...; time ratio <t> (target 11)`.

- The store gets `--events` User.Registered events (User aggregates saved 1,000 a transaction,
  with one precomputed password hash), on PostgreSQL (a fresh database) when it answers, else
  SQLite; then VACUUM ANALYZEd and CHECKPOINTed (`fresh.settle`), as autovacuum and the
  server would soon after.
- rebuild: `upare projections rebuild users` run as its own process (its personal-data keys
  not cached, as in production), its rate as it reports it (from the rebuild's start to the
  switch) and its peak RSS as the operating system counted it (`wait4`); the median of
  `--repeat` (default 3) rebuilds, each building the next generation.
- decode-only scan: the same log read and decoded as every reader of it reads it
  (`EventLog.read`, pages of `copier.PAGE`: personal data opened, upcast) and nothing else, in a
  fresh container of this process (keys not cached either); the median of `--repeat`.
- baseline: the users projection's own tables and handlers under eventsourcing's
  `ProjectionRunner`, one transaction per event with its tracking record
  (`runner_baseline`), for at most `--baseline-seconds` (default 60).
- scale (`--big N`): a second fresh store of N events, rebuilt once the same way; the time
  ratio is its rebuild's seconds over the median of the first store's, and both peak RSS are
  printed (flat memory: about the same).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from fresh import fresh_container, pick_backend, settle
from runner_baseline import baseline as runner_baseline

from domain.passwords import hash_password
from domain.users import User
from projections.copier import PAGE
from projections.users import UsersProjection
from upare.bootstrap import Container, bootstrap


def store_users(container: Container, count: int) -> None:
    """Store `count` User.Registered events, 1,000 aggregates a transaction, their personal
    keys made 1,000 a transaction before (`Vault.provide`)."""
    password_hash = hash_password("correct horse battery")
    for start in range(10001, 10001 + count, 1000):
        users = [
            User.register(
                uid=uid, username=f"u{uid}", email=f"u{uid}@x.io", password_hash=password_hash
            )
            for uid in range(start, min(start + 1000, 10001 + count))
        ]
        container.app.vault.provide([str(user.id) for user in users])
        container.app.save(*users)


def rebuild_process(container: Container, name: str) -> tuple[int, float, float, float]:
    """Run `upare projections rebuild NAME` as its own process; return (events, seconds,
    events/s as it reports them, peak RSS in MB)."""
    settings = container.settings
    env = {
        **os.environ,
        "UPARE_DATA_DIR": str(settings.data_dir),
        "UPARE_DATABASE_URL": settings.database_url,
        "UPARE_SECRET_KEY": settings.secret_key,
    }
    upare = Path(sys.executable).with_name("upare")
    process = subprocess.Popen(
        [str(upare), "projections", "rebuild", name], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    said = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"rebuild failed: {said}")
    done = re.search(r"\((\d+) events in ([\d.]+) s, ([\d,]+) events/s\)", said)
    assert done is not None, said
    events, _, rate = done.groups()  # the seconds from the rate: printed to a tenth only
    count, per_second = int(events), float(rate.replace(",", ""))
    return count, count / per_second, per_second, usage.ru_maxrss / 1024


def decode_scan(container: Container) -> float:
    """Read and decode the whole log as its readers do, with nothing cached; return events/s."""
    with bootstrap(container.settings) as fresh:
        log, position, count = fresh.log, 0, 0
        started = time.perf_counter()
        while page := log.read(position, PAGE):
            count += len(page)
            position = page[-1].position
        return count / (time.perf_counter() - started)


def rebuilds(container: Container, name: str, repeat: int) -> tuple[float, float, float]:
    """Rebuild `repeat` times; return the median events/s, median seconds and peak RSS (MB)."""
    last = container.log.head()
    runs = []
    for _ in range(repeat):  # each run builds the next generation and switches to it
        events, seconds, rate, rss = rebuild_process(container, name)
        assert events == last, (events, last)
        runs.append((rate, seconds, rss))
        print(f"# rebuild {name}: {events} events in {seconds:.2f} s, peak RSS {rss:.0f} MB")
    rates, seconds, rss = zip(*runs, strict=True)
    return statistics.median(rates), statistics.median(seconds), max(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=0, help="events of the scale run (1000000)")
    parser.add_argument("--backend", choices=["auto", "postgres", "sqlite"], default="auto")
    parser.add_argument("--baseline-seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median counts")
    args = parser.parse_args()
    backend = pick_backend(args.backend)
    with fresh_container(backend) as container:
        began = time.perf_counter()
        store_users(container, args.events)
        settle(container)
        last = container.log.head()
        print(f"# {backend}: {last} events stored in {time.perf_counter() - began:.1f} s")
        rate, seconds, rss = rebuilds(container, "users", args.repeat)
        scan = statistics.median(decode_scan(container) for _ in range(args.repeat))
        baseline = last / runner_baseline(container, UsersProjection, args.baseline_seconds)
    print(
        f"BENCH rebuild users: {rate:,.0f} events/s; ProjectionRunner {baseline:,.0f} events/s;"
        f" ratio {rate / baseline:.1f} (target 25); decode-only scan {scan:,.0f} events/s;"
        f" ratio {rate / scan:.2f} (target 0.3); peak RSS {rss:.0f} MB"
    )
    if args.big:
        with fresh_container(backend) as container:
            store_users(container, args.big)
            settle(container)
            _, big_seconds, big_rate, big_rss = rebuild_process(container, "users")
        print(
            f"BENCH rebuild users scale: {args.big:,} events in {big_seconds:.2f} s"
            f" ({big_rate:,.0f} events/s, peak RSS {big_rss:.0f} MB), {last:,} in"
            f" {seconds:.2f} s (peak RSS {rss:.0f} MB); time ratio {big_seconds / seconds:.2f}"
            f" (target {11 * args.big / last / 10:.0f})"
        )


if __name__ == "__main__":
    main()
