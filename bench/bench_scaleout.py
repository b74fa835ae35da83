"""Benchmark scale-out: one `upare projector` process against two in the same consumer group.

Run `python bench/bench_scaleout.py [--users 1000] [--friendships 4000] [--runs 3]` with
PostgreSQL and a Kafka broker at `UPARE_KAFKA_BOOTSTRAP` (default 127.0.0.1:9092).

- Seeding, once: on a fresh PostgreSQL database whose projections are installed while the store
  is empty (so a projector finds them built and takes every event from Kafka, none from a
  rebuild), `--users` registrations and `--friendships` friendships (every tenth ended after),
  stored as bench_rebuild and bench_rebuild_social store them; then the relay publishes the
  whole log to a fresh 6-partition topic.
- Each run, one and two projectors alternating: a copy of that database (`CREATE DATABASE ...
  TEMPLATE`: the same store, empty read models, the relay's recorded end offsets), a fresh
  consumer group, and that many `upare projector` processes started together. Every 0.25 s
  the lag is read from the read-model database: per partition, the relay's end offset minus
  the smallest next offset the projections recorded (the consumer lag, in records = events).
  Caught up once it is 0 (and every watermark is at the store's head); events/s counts from
  the first event applied (the processes' start-up and first group join are reported apart).
- Then every run's read models are compared with the first one-projector run's, table by
  table, with the verified rebuild's row counts and checksums (`projections.compare`).

Prints `BENCH scaleout: ...` lines: per run events/s, start-up and lag (max, at the end), and
the ratio of two projectors' events/s to one's (median and range over the runs). The relay
against a bare kafka-python producer (target 0.7) is bench_relay's line.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
from bench_rebuild import store_users
from bench_rebuild_social import store_friendships
from fresh import server_url
from kafka import KafkaAdminClient

from projections import catalog, compare, lifecycle
from projections.database import ReadDB
from projections.watermark import watermark
from upare.bootstrap import Container, bootstrap
from upare.settings import Settings
from workers import kafka
from workers.relay import Relay

BOOTSTRAP = os.environ.get("UPARE_KAFKA_BOOTSTRAP") or "127.0.0.1:9092"
UPARE = str(Path(sys.executable).with_name("upare"))
SAMPLE_SECONDS = 0.25
LIMIT_SECONDS = 600.0  # a run that has not caught up by then fails the benchmark


@dataclass(frozen=True)
class Run:
    """One catch-up: how many processes, when the first event landed, when all had."""

    processes: int
    startup: float  # seconds from starting the processes to the first event applied
    seconds: float  # seconds from the first event applied to the lag reaching 0
    events: int
    lags: list[tuple[float, int]]  # (seconds since start, events behind)
    tables: dict[str, tuple[int, str]]  # projection.table: (rows, checksum)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def line(self) -> str:
        steps = " ".join(f"{lag}" for at, lag in self.lags[:: max(1, len(self.lags) // 8)])
        return (
            f"BENCH scaleout {self.processes} projector(s): {self.rate:,.0f} events/s"
            f" ({self.events} events in {self.seconds:.1f} s, start-up {self.startup:.1f} s);"
            f" lag max {max(lag for _, lag in self.lags)}, at the end {self.lags[-1][1]};"
            f" lag over time: {steps}"
        )


def database(server: str, name: str, template: str = "") -> str:
    """Create a database (a copy of `template`, if given); return its URL."""
    with psycopg.connect(server, autocommit=True) as connection:
        copy = f" TEMPLATE {template}" if template else ""
        connection.execute(f"CREATE DATABASE {name}{copy}")
    return server.rsplit("/", 1)[0] + f"/{name}"


def drop(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def seed(url: str, folder: Path, config: kafka.KafkaConfig, users: int, friendships: int) -> int:
    """Install the projections, store the events, relay them all; return the store's head."""
    with bootstrap(Settings(data_dir=folder, database_url=url)) as container:
        lifecycle.prepare(container.log, container.db, container.projections, container.retry)
        began = time.perf_counter()
        store_users(container, users)
        store_friendships(container, users, friendships)
        head = container.log.head()
        print(f"# {head} events stored in {time.perf_counter() - began:.1f} s")
        relay = Relay(container.log, container.db, config)
        relay.start(kafka.ensure_topic(config))
        producer = kafka.producer(config)
        began = time.perf_counter()
        try:
            while relay.publish_page(producer):
                pass
        finally:
            producer.close()
        seconds = time.perf_counter() - began
        print(f"# relayed to {config.topic} at {head / seconds:,.0f} events/s")
        return head


def lag(db: ReadDB, names: list[str]) -> int:
    """Return the records on the topic that some projection has not handled yet.

    Per partition: the relay's end offset minus the smallest next offset the projections
    recorded there (the consumer lag, counted in the read-model database, as `Stall` does).
    """
    ends = {
        int(feed): int(end)
        for feed, end in db.fetchall("SELECT feed, end_offset FROM relay_position")
    }
    marks = ", ".join("?" for _ in names)
    rows = db.fetchall(
        "SELECT o.feed, o.projection, o.next_offset FROM projection_offsets o"
        " JOIN projection_state s ON s.name = o.projection AND s.generation = o.generation"
        f" WHERE s.name IN ({marks})",
        tuple(names),
    )
    done: dict[tuple[int, str], int] = {(int(feed), name): int(at) for feed, name, at in rows}
    return sum(end - min(done.get((feed, name), 0) for name in names) for feed, end in ends.items())


def checksums(db: ReadDB, container: Container) -> dict[str, tuple[int, str]]:
    """Return every live read-model table's row count and checksum."""
    found = {}
    with db.transaction(write=False) as tx:
        for cls in container.projections:
            projection = cls(catalog.live_generation(tx, cls.name) or 1)
            for table, definition in projection.tables.items():
                name = projection.table(table)
                key = compare.primary_key(definition)
                found[f"{cls.name}.{table}"] = compare.checksum(tx, name, tx.columns(name), key)
    return found


def catch_up(url: str, folder: Path, topic: str, processes: int, head: int) -> Run:
    """Start `processes` projectors in a fresh group; sample the lag until it is 0."""
    env = {
        **os.environ,
        "UPARE_DATABASE_URL": url,
        "UPARE_DATA_DIR": str(folder),
        "UPARE_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "UPARE_KAFKA_TOPIC": topic,
        "UPARE_KAFKA_GROUP": f"upare-bench-{uuid.uuid4().hex[:10]}",
    }
    with ExitStack() as stack, bootstrap(Settings(data_dir=folder, database_url=url)) as container:
        started = time.perf_counter()
        for n in range(processes):
            log = stack.enter_context(open(folder / f"projector{n}.log", "ab"))
            process = subprocess.Popen([UPARE, "projector"], env=env, stdout=log, stderr=log)
            stack.callback(stop, process)
        names = [cls.name for cls in container.projections]
        lags, first = [], None
        while True:
            behind, at = lag(container.db, names), time.perf_counter() - started
            lags.append((at, behind))
            if first is None and behind < head:
                first = at
            if behind <= 0:
                break
            if at > LIMIT_SECONDS:
                raise SystemExit(f"{processes} projector(s) still {behind} behind after {at:.0f} s")
            time.sleep(SAMPLE_SECONDS)
        assert first is not None
        marks = [watermark(container.db, name) for name in names]
        if min(marks) < head:
            raise SystemExit(f"offsets caught up but watermarks {marks} are below {head}")
        tables = checksums(container.db, container)
    return Run(processes, first, max(at - first, SAMPLE_SECONDS), head, lags, tables)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a projector with SIGTERM (SIGKILL after 20 s)."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--friendships", type=int, default=4_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the median counts")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stopped: still drop what it made
    server = server_url()
    if server is None:
        raise SystemExit("PostgreSQL does not answer: run `bash scripts/services.sh up`")
    tag = uuid.uuid4().hex[:10]
    config = kafka.KafkaConfig(bootstrap=BOOTSTRAP, topic=f"upare.bench.{tag}")
    source, names = f"upare_bench_{tag}", []
    with tempfile.TemporaryDirectory(prefix="upare-bench-") as tmp:
        folder = Path(tmp)
        try:
            head = seed(database(server, source), folder, config, args.users, args.friendships)
            runs: list[Run] = []
            for n in range(args.runs):
                for processes in (1, 2):
                    names.append(f"{source}_{n}_{processes}")
                    url = database(server, names[-1], template=source)
                    runs.append(catch_up(url, folder, config.topic, processes, head))
                    print(runs[-1].line, flush=True)
                    drop(server, names[-1])
        finally:
            for name in [source, *names]:
                drop(server, name)
            admin = KafkaAdminClient(bootstrap_servers=config.servers, **kafka.CLIENT)
            admin.delete_topics([config.topic])
            admin.close()
    equal = [run for run in runs if run.tables == runs[0].tables]
    users = runs[0].tables["users.profiles"][0] if "users.profiles" in runs[0].tables else 0
    print(
        f"BENCH scaleout read models: {len(equal)} of {len(runs)} runs equal to the first,"
        f" {len(runs[0].tables)} tables, {users} profiles"
    )
    ratios = [two.rate / one.rate for one, two in zip(runs[::2], runs[1::2], strict=True)]
    one = statistics.median(run.rate for run in runs[::2])
    two = statistics.median(run.rate for run in runs[1::2])
    print(
        f"BENCH scaleout: 2 projectors {two:,.0f} events/s; 1 projector {one:,.0f} events/s;"
        f" ratio {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f} over"
        f" {len(ratios)} runs; 6 partitions, {head} events)"
    )
    if len(equal) != len(runs) or users != args.users:
        raise SystemExit("the read models differ between the runs")


if __name__ == "__main__":
    main()
