"""Benchmark the relay: events/s from the event store to Kafka, against a bare producer.

Run `python bench/bench_relay.py [events] [repeat]` with a Kafka broker at
`UPARE_KAFKA_BOOTSTRAP` (default 127.0.0.1:9092). It stores `events` events (default 50,000)
in a SQLite event store once, then `repeat` times (default 3), alternating, each into a fresh
6-partition topic:

- relay: `Relay.publish_page` until the whole log is published: pages of 5,000 read from the
  store, encoded as CloudEvents, sent with acks=all, flushed, the position recorded;
- baseline: the same envelopes, encoded beforehand, sent by a bare kafka-python producer with
  the relay's producer settings (acks=all, idempotent, linger 5 ms), flushed once at the end.

It prints `BENCH relay: <v> events/s; baseline <b> events/s; ratio <r> (<min>-<max> over <n>
runs) (target 0.7)`: the medians, and the range of the runs' ratios (each relay run against
the baseline run after it).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from commands.application import WriteApplication
from domain.users import User
from projections.events import EventLog
from upare.bootstrap import bootstrap
from upare.settings import Settings
from workers import kafka
from workers.relay import Relay

BOOTSTRAP = os.environ.get("UPARE_KAFKA_BOOTSTRAP") or "127.0.0.1:9092"


def fill(store: WriteApplication, events: int) -> None:
    """Store `events` registrations, 500 a transaction (fake password hashes: no argon2)."""
    for start in range(0, events, 500):
        users = [
            User.register(uid=10_001 + n, username=f"u{n}", email=f"u{n}@x.io", password_hash="x")  # noqa: S106
            for n in range(start, min(start + 500, events))
        ]
        store.save(*users)


def fresh_config() -> kafka.KafkaConfig:
    config = kafka.KafkaConfig(bootstrap=BOOTSTRAP, topic=f"upare.bench.{uuid.uuid4().hex[:10]}")
    kafka.ensure_topic(config)
    return config


def time_relay(folder: Path, log: EventLog) -> float:
    """Return the seconds the relay takes to publish the whole log (with a fresh position)."""
    config = fresh_config()
    settings = Settings(data_dir=folder, database_url=f"sqlite:///{folder}/{config.topic}")
    container = bootstrap(settings)
    relay = Relay(log, container.db, config)
    relay.start(config.partitions)
    producer = kafka.producer(config)
    try:
        started = time.perf_counter()
        while relay.publish_page(producer):
            pass
        return time.perf_counter() - started
    finally:
        producer.close()
        container.close()


def time_baseline(envelopes: list[tuple[bytes, bytes]]) -> float:
    """Return the seconds a bare producer takes to send and flush the same envelopes."""
    config = fresh_config()
    producer = kafka.producer(config)
    try:
        started = time.perf_counter()
        for key, value in envelopes:
            producer.send(config.topic, key=key, value=value)
        producer.flush()
        return time.perf_counter() - started
    finally:
        producer.close()


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = bootstrap(Settings(data_dir=folder, database_url=f"sqlite:///{folder}/store"))
        fill(source.app, events)
        notifications = source.log.notifications(0, events + 1)
        envelopes = [kafka.encode(n, source.log.plain_state(n)) for n in notifications]
        relay_times, baseline_times = [], []
        for _ in range(repeat):
            relay_times.append(time_relay(folder, source.log))
            baseline_times.append(time_baseline(envelopes))
        source.close()
    value = events / statistics.median(relay_times)
    baseline = events / statistics.median(baseline_times)
    ratios = [base / relay for relay, base in zip(relay_times, baseline_times, strict=True)]
    print(
        f"BENCH relay: {value:.0f} events/s; baseline {baseline:.0f} events/s;"
        f" ratio {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f} over"
        f" {repeat} runs) (target 0.7)"
    )


if __name__ == "__main__":
    main()
