"""Benchmark `upare events export` against a bare scan of the same events from the store.

Run `python bench/bench_export.py [--events N] [--memory] [--repeat 3] [--backend B]` (B: auto,
postgres or sqlite); it prints `BENCH export parquet: <v> events/s; bare scan <b> events/s;
ratio <r> (<min>-<max>, 3 runs) (target 0.3)`, the same for JSONL, and `BENCH export memory:
peak RSS <m> MB ... (target flat, under 200)`. The default (100,000 events) takes a few
minutes; `--memory` stores and exports 1,000,000, as issue 11's memory target asks.

- The store gets `--events` events of users with `PER_USER` events each (registered, then
  their password changed), written straight through the application (`BATCH` events a
  `save`), on PostgreSQL (a fresh database) when it answers, else SQLite.
- export: `upare events export --format parquet|jsonl` run as its own process, its rate as it
  reports it (from its first read of the log to the last row written, without the interpreter's
  start, the imports and the opening of the store);
  its peak RSS as the operating system counted it (`wait4`).
- bare scan: the same log read in the same pages of 1,000 (`select_notifications`), with no
  decoding, in this process, in the same round: each of `--repeat` rounds (default 3) scans,
  then exports to Parquet and to JSONL; the ratio printed is the median of the rounds' ratios,
  with their range.
- flat memory: the Parquet export of the last tenth of the log is measured too; the whole
  log's peak RSS should be about the same.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from fresh import fresh_container, pick_backend

from domain.users import User
from upare.bootstrap import Container
from upare.history import PAGE

BATCH = 1000  # events a save
PER_USER = 100  # events a user
MEMORY_EVENTS = 1_000_000


def store_users(container: Container, count: int) -> None:
    """Store `count` events: users registered, then each password changed `PER_USER - 1` times
    (every event carries sealed personal data), `BATCH` events a transaction."""
    users_a_save, digest = BATCH // PER_USER, "$argon2id$v=19$m=19456,t=2,p=1$" + "h" * 75
    for first in range(10001, 10001 + count // PER_USER, users_a_save):
        users = [
            User.register(uid=uid, username=f"u{uid}", email=f"u{uid}@x.io", password_hash=digest)
            for uid in range(first, min(first + users_a_save, 10001 + count // PER_USER))
        ]
        for user in users:
            for _ in range(PER_USER - 1):
                user.change_password(digest)
        container.app.save(*users)


def bare_scan(container: Container) -> float:
    """Read the whole log in pages without decoding; return events/s."""
    recorder, position, count = container.app.recorder, 0, 0
    started = time.perf_counter()
    while page := recorder.select_notifications(position, PAGE, inclusive_of_start=False):
        count += len(page)
        position = page[-1].id
    return count / (time.perf_counter() - started)


def export(container: Container, format: str, out: Path, after: int = 0) -> tuple[float, float]:
    """Run `upare events export` in its own process; return (events/s, peak RSS in MB)."""
    env = {
        **os.environ,
        "UPARE_DATA_DIR": str(container.settings.data_dir),
        "UPARE_DATABASE_URL": container.settings.database_url,
    }
    upare = Path(sys.executable).with_name("upare")
    command = [str(upare), "events", "export", "--format", format, "--out", str(out)]
    command += ["--after-position", str(after)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    said = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"export failed ({process.returncode}): {said}")
    rate = re.search(r"\(([\d,]+) events/s\)", said)
    assert rate is not None, said
    return float(rate.group(1).replace(",", "")), usage.ru_maxrss / 1024  # ru_maxrss: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--memory", action="store_true", help=f"{MEMORY_EVENTS:,} events")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the medians count")
    parser.add_argument("--backend", choices=["auto", "postgres", "sqlite"], default="auto")
    args = parser.parse_args()
    backend = pick_backend(args.backend)
    rates: dict[str, list[float]] = {"scan": [], "parquet": [], "jsonl": []}
    ratios: dict[str, list[float]] = {"parquet": [], "jsonl": []}
    rss: list[float] = []
    with fresh_container(backend) as container, tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        store_users(container, MEMORY_EVENTS if args.memory else args.events)
        last = container.log.head()
        print(f"# {backend}: {last} events stored in {time.perf_counter() - began:.1f} s")
        for _ in range(args.repeat):  # each round's exports against its own bare scan
            scan = bare_scan(container)
            rates["scan"].append(scan)
            for format, out in (("parquet", "parquet"), ("jsonl", "events.jsonl")):
                rate, peak = export(container, format, Path(folder) / out)
                rates[format].append(rate)
                ratios[format].append(rate / scan)
                rss.append(peak)
        _, tenth_rss = export(container, "parquet", Path(folder) / "tenth", last - last // 10)
    print(f"# peak RSS of each export: {', '.join(f'{peak:.0f}' for peak in rss)} MB")
    for format in ("parquet", "jsonl"):
        print(
            f"BENCH export {format}: {median(rates[format]):,.0f} events/s;"
            f" bare scan {median(rates['scan']):,.0f} events/s;"
            f" ratio {median(ratios[format]):.2f}"
            f" ({min(ratios[format]):.2f}-{max(ratios[format]):.2f}, {args.repeat} runs)"
            " (target 0.3)"
        )
    print(
        f"BENCH export memory: peak RSS {max(rss):.0f} MB for {last:,} events,"
        f" {tenth_rss:.0f} MB for the last {last // 10:,} (target flat, under 200)"
    )


if __name__ == "__main__":
    main()
