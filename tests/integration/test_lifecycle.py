"""A projection new to a deployment, or whose version changed, is built from the event store
before it counts as caught up: it never reports history it does not hold."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from projections import PROJECTIONS, catalog
from projections.watermark import watermark
from tests.integration.tally import TallyProjection, reference, rows, stream
from upare.bootstrap import Container, bootstrap
from upare.settings import Settings
from workers.store_feed import StoreFeed

EVENTS = 3000


def counter_events(container: Container) -> list[int]:
    """Return the positions of the stored events the tally projection counts, in order."""
    return [
        event.position
        for event in container.log.read(0, 10**9)
        if TallyProjection.wants(event.topic)
    ]


def held_at_watermark(container: Container) -> tuple[int, int]:
    """Return B's watermark and how many counter events its live tables hold, read together."""
    with container.db.transaction(write=False) as tx:
        mark = watermark(tx, TallyProjection.name)
        row = tx.fetchone(
            f"SELECT coalesce(sum(events), 0) FROM {TallyProjection.view('counters')}"
        )
    return mark, int(row[0]) if row else 0


def watch(container: Container, positions: list[int], done: threading.Event) -> list[str]:
    """Sample B's watermark until `done`; return every sample that claimed unheld history."""
    lies = []
    while not done.is_set():
        mark, held = held_at_watermark(container)
        owed = sum(1 for position in positions if position <= mark)
        if held < owed:
            lies.append(f"watermark {mark} owes {owed} counter events, tables hold {held}")
        time.sleep(0.005)
    return lies


@contextmanager
def running(target, *args) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(*args, stop), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=30)


def test_a_projection_added_to_a_deployment_gets_its_whole_history(settings: Settings):
    with bootstrap(settings) as before:  # only the users projection is deployed
        for _ in stream(before.app, EVENTS):
            pass
    with bootstrap(settings, [*PROJECTIONS, TallyProjection]) as after:  # B is deployed
        positions = counter_events(after)
        head = after.log.head()
        assert watermark(after.db, TallyProjection.name) == 0  # not built: owns nothing yet
        done = threading.Event()
        lies: list[str] = []
        watcher = threading.Thread(target=lambda: lies.extend(watch(after, positions, done)))
        watcher.start()
        feed = StoreFeed(after.log, after.db, after.projections, after.retry)
        with running(feed.run):
            deadline = time.monotonic() + 60
            while watermark(after.db, TallyProjection.name) < head:
                assert time.monotonic() < deadline, "B was never built"
                time.sleep(0.02)
        done.set()
        watcher.join()
        assert lies == []
        assert held_at_watermark(after)[1] == len(positions)
        with after.db.transaction(write=False) as tx:
            assert catalog.built_version(tx, TallyProjection.name) == TallyProjection.version
            live = TallyProjection(catalog.live_generation(tx, TallyProjection.name) or 0)
        assert rows(after.db, live) == rows(
            after.db, reference(after.log, after.db, TallyProjection)
        )


class TallyV2(TallyProjection):
    """The tally projection with a changed version (as after a change to its handlers)."""

    version = 2


def test_a_projection_whose_version_changed_is_rebuilt_before_it_is_fed(settings: Settings):
    with bootstrap(settings, [*PROJECTIONS, TallyProjection]) as old:
        for _ in stream(old.app, 500):
            pass
        StoreFeed(old.log, old.db, old.projections).run_once()
        with old.db.transaction(write=False) as tx:
            assert catalog.live_generation(tx, "tally") == 1
    with bootstrap(settings, [*PROJECTIONS, TallyV2]) as new:
        feed = StoreFeed(new.log, new.db, new.projections)
        while feed.run_once():
            pass
        with new.db.transaction(write=False) as tx:
            assert catalog.live_generation(tx, "tally") == 2
            assert catalog.built_version(tx, "tally") == 2
        assert held_at_watermark(new)[0] == new.log.head()


def test_a_new_projection_beside_an_empty_store_is_complete_at_once(settings: Settings):
    with (
        bootstrap(settings, [*PROJECTIONS, TallyProjection]) as fresh,
        fresh.db.transaction(write=False) as tx,
    ):
        assert catalog.built_version(tx, "tally") == TallyProjection.version
        assert catalog.live_generation(tx, "tally") == 1


@pytest.mark.kafka
def test_on_kafka_a_projection_added_later_is_built_before_the_projector_counts_it(
    kafka_bootstrap: str, tmp_path
):
    from tests.integration.test_pipeline_kafka import pipeline_env, wait_until_projected
    from upare.cli_pipeline import kafka_worker

    env = pipeline_env(f"sqlite:///{tmp_path}/db", kafka_bootstrap, tmp_path)
    settings = Settings.from_env(env)
    with bootstrap(settings) as before, running(kafka_worker, before):  # A alone, on Kafka
        for _ in stream(before.app, EVENTS):
            pass
        wait_until_projected(before, None, timeout=60)
    with bootstrap(settings, [*PROJECTIONS, TallyProjection]) as after:
        positions = counter_events(after)
        done = threading.Event()
        lies: list[str] = []
        watcher = threading.Thread(target=lambda: lies.extend(watch(after, positions, done)))
        watcher.start()
        with running(kafka_worker, after):
            wait_until_projected(after, None, timeout=60)
            for _ in stream(after.app, 300, seed=3):  # and it goes on from Kafka afterwards
                pass
            wait_until_projected(after, None, timeout=60)
        done.set()
        watcher.join()
        assert lies == []
        positions = counter_events(after)
        assert held_at_watermark(after)[1] == len(positions)
