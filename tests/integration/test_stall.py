"""A Kafka consumer that stalled (the broker went away in the middle of a group join) is told
from a healthy one by the read-model database alone, and replaced."""

from __future__ import annotations

import threading
import time

from tests.integration.test_watermark import projector, relay
from workers.kafka import KafkaConfig
from workers.projector import Projector, Stall

QUICK = 0.3  # seconds without movement that make a stall, in these tests


def wait_for_stall(stall: Stall, assigned: set[int], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stall.stalled(assigned):
            return True
        time.sleep(0.02)
    return False


def test_a_backlog_nothing_moves_is_a_stall(container):
    relay(container, 500, [10, 4])
    projector(container, 0, 3, 100)
    assert wait_for_stall(Stall(container.db, ["users"], QUICK), assigned=set())


def test_a_caught_up_pipeline_never_stalls(container):
    relay(container, 500, [10, 0])
    projector(container, 0, 10, 500)
    assert not wait_for_stall(Stall(container.db, ["users"], QUICK), assigned={0, 1})


def test_a_backlog_that_moves_is_no_stall(container):
    relay(container, 500, [1000])
    stall = Stall(container.db, ["users"], QUICK)
    deadline = time.monotonic() + 1.5
    offset = 0
    while time.monotonic() < deadline:
        offset += 1
        projector(container, 0, offset, offset)
        assert not stall.stalled({0})
        time.sleep(0.05)


def test_another_members_backlog_is_not_this_consumers_stall(container):
    relay(container, 500, [10, 4])
    projector(container, 0, 10, 500)  # ours, caught up; partition 1 belongs to another member
    assert not wait_for_stall(Stall(container.db, ["users"], QUICK), assigned={0})


class StuckConsumer:
    """What a stalled kafka-python consumer looks like from outside: no records, no partitions."""

    def poll(self, timeout_ms: int) -> dict:
        time.sleep(timeout_ms / 1000)
        return {}

    def assignment(self) -> set:
        return set()

    def close(self, autocommit: bool) -> None:
        pass


def test_the_projector_replaces_a_consumer_that_stalled(container, monkeypatch):
    monkeypatch.setattr("workers.projector.STALL_SECONDS", QUICK)
    monkeypatch.setattr("workers.projector.POLL_MS", 20)
    relay(container, 500, [10])
    connected = []
    stop = threading.Event()

    def connect() -> StuckConsumer:
        connected.append(time.monotonic())
        if len(connected) == 3:
            stop.set()
        return StuckConsumer()

    worker = Projector(
        container.log, container.db, container.projections, KafkaConfig(bootstrap="unused")
    )
    monkeypatch.setattr(worker, "_connect", connect)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive() and len(connected) == 3
