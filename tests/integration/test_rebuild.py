"""Rebuilding a projection from the event store, on each backend, with and without live writes."""

from __future__ import annotations

import threading
import time

import pytest

from domain.users import Index, User
from projections import catalog
from projections.apply import Retry, apply_batch
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord
from projections.rebuild import RebuildError, rebuild
from projections.users import UsersProjection
from tests.integration.feeds import project
from tests.integration.welcome import SENT
from workers.store_feed import StoreFeed


def save_users(store, first: int, count: int, per_save: int = 500) -> None:
    """Store `count` users from uid `first`, each with a username claim, `per_save` at a time."""
    for start in range(first, first + count, per_save):
        aggregates = []
        for uid in range(start, min(start + per_save, first + count)):
            user = User.register(
                uid=uid, username=f"u{uid}", email=f"u{uid}@x.io", password_hash="h"
            )
            claim = Index(id=store.claim_id("username", f"u{uid}"), kind="username", owner=user.id)
            aggregates += [user, claim]
        store.save(*aggregates)


def from_scratch(container, cls: type[Projection], table: str) -> list[tuple]:
    """Build a throwaway generation of `cls` from every stored event; return its rows."""
    scratch = cls(999, replay=True)
    events = container.log.read(0, 10**9)
    with container.db.transaction() as tx:  # statement by statement: the plain way
        catalog.create_tables(tx, scratch)
        apply_batch(tx, scratch, events)
    rows = container.db.fetchall(f"SELECT * FROM {scratch.table(table)} ORDER BY 1")
    with container.db.transaction() as tx:
        catalog.drop_generation(tx, scratch)
    return rows


def live_rows(container, cls: type[Projection], table: str) -> list[tuple]:
    return container.db.fetchall(f"SELECT * FROM {cls.view(table)} ORDER BY 1")


def test_a_rebuild_makes_the_next_generation_live_with_every_event(container):
    save_users(container.app, 10001, 2500)
    project(container)
    before = live_rows(container, UsersProjection, "profiles")
    reports: list[tuple[int, int]] = []

    done = rebuild(container.log, container.db, UsersProjection, lambda *r: reports.append(r))

    assert (done.generation, done.position, done.events) == (2, 5000, 5000)
    assert live_rows(container, UsersProjection, "profiles") == before
    assert len(before) == 2500
    assert reports[-1] == (5000, 5000)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_a_rebuild_drops_the_old_generation_and_its_bookkeeping(container):
    save_users(container.app, 10001, 10)
    project(container)

    rebuild(container.log, container.db, UsersProjection)

    with container.db.transaction(write=False) as tx:
        assert catalog.live_generation(tx, "users") == 2
        assert catalog.position(tx, UsersProjection(2)) == 20
        for meta in ("projection_tracking", "projection_positions"):
            sql = f"SELECT DISTINCT generation FROM {meta} WHERE projection = ?"
            rows = tx.fetchall(sql, ("users",))
            assert rows == [(2,)]
    with pytest.raises(Exception):  # noqa: B017 (sqlite3 or psycopg error: no such table)
        container.db.fetchone("SELECT count(*) FROM users_g1_profiles")


def test_a_rebuild_of_an_empty_store_switches_cleanly(container):
    done = rebuild(container.log, container.db, UsersProjection)

    assert (done.generation, done.position, done.events) == (2, 0, 0)
    assert live_rows(container, UsersProjection, "profiles") == []
    save_users(container.app, 10001, 3)
    project(container)  # the feeds carry on with the new generation
    assert len(live_rows(container, UsersProjection, "profiles")) == 3


def test_a_rebuild_under_live_writes_loses_nothing(container):
    save_users(container.app, 10001, 6000)
    stop = threading.Event()
    feed = threading.Thread(
        target=StoreFeed(container.log, container.db, container.projections).run, args=(stop,)
    )
    written = [16001]

    def write() -> None:
        while not stop.wait(0.001):
            save_users(container.app, written[0], 3)
            written[0] += 3

    writer = threading.Thread(target=write)
    feed.start()
    writer.start()
    try:
        time.sleep(0.2)
        during = [written[0]]
        done = rebuild(container.log, container.db, UsersProjection)
        during.append(written[0])
        time.sleep(0.2)  # writes after the switch go to the new generation
    finally:
        stop.set()
        writer.join()
        feed.join()
    project(container)

    assert done.generation == 2
    assert during[1] > during[0]  # the writer really wrote while the rebuild ran
    rows = live_rows(container, UsersProjection, "profiles")
    uids = [row[0] for row in rows]
    assert uids == list(range(10001, written[0]))
    assert rows == from_scratch(container, UsersProjection, "profiles")


def test_an_interrupted_rebuild_leaves_the_live_generation_serving_and_can_be_run_again(container):
    save_users(container.app, 10001, 1500)
    project(container)
    before = live_rows(container, UsersProjection, "profiles")

    def crash(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rebuild(container.log, container.db, UsersProjection, crash)

    assert live_rows(container, UsersProjection, "profiles") == before
    with container.db.transaction(write=False) as tx:
        assert catalog.live_generation(tx, "users") == 1
    done = rebuild(container.log, container.db, UsersProjection)
    assert done.generation == 2
    assert live_rows(container, UsersProjection, "profiles") == before


def test_a_second_rebuild_of_a_projection_is_refused_while_one_runs(container):
    save_users(container.app, 10001, 5)
    refusals: list[str] = []

    def meanwhile(done: int, total: int) -> None:
        if not refusals:
            with pytest.raises(RebuildError) as refused:
                rebuild(container.log, container.db, UsersProjection)
            refusals.append(str(refused.value))

    assert rebuild(container.log, container.db, UsersProjection, meanwhile).generation == 2
    assert refusals == ["a rebuild of 'users' is running already"]


def test_a_rebuild_runs_no_side_effects_for_events_already_handled(container, welcome):
    save_users(container.app, 10001, 1200)
    project(container, [welcome])
    assert len(SENT) == 1200

    rebuild(container.log, container.db, welcome)

    assert len(SENT) == 1200
    assert live_rows(container, welcome, "sent") == [(uid,) for uid in range(10001, 11201)]


def test_a_rebuild_runs_the_side_effects_the_live_generation_had_not_reached(container, welcome):
    save_users(container.app, 10001, 1200)
    project(container, [welcome])
    save_users(container.app, 11201, 5)  # stored, not yet handled by the live generation

    rebuild(container.log, container.db, welcome)
    project(container, [welcome])

    assert sorted(SENT) == list(range(10001, 11206))  # each mailed exactly once
    assert len(live_rows(container, welcome, "sent")) == 1205


class Fragile(Projection):
    """A projection whose handler fails on one user, in Python or in the database."""

    name = "fragile"
    tables = {"seen": "uid BIGINT PRIMARY KEY, note TEXT NOT NULL"}
    failure = "python"

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        uid = event.data["uid"]
        if uid == 10007 and self.failure == "python":
            raise ValueError("cannot handle this one")
        note = None if uid == 10007 else "ok"  # NULL: the database refuses the row
        tx.execute(f"INSERT INTO {self.table('seen')} (uid, note) VALUES (?, ?)", (uid, note))


@pytest.mark.parametrize("failure", ["python", "database"])
def test_an_event_that_fails_is_parked_and_the_rebuild_goes_on(container, monkeypatch, failure):
    monkeypatch.setattr(Fragile, "failure", failure)
    catalog.install(container.db, [Fragile], container.log.head())
    save_users(container.app, 10001, 10)

    done = rebuild(container.log, container.db, Fragile, retry=Retry(3, 0.001))

    assert done.generation == 2
    assert len(live_rows(container, Fragile, "seen")) == 9
    parked = container.db.fetchall(
        "SELECT generation, status FROM projection_dead_letters WHERE projection = ?", ("fragile",)
    )
    assert parked == [(2, "parked")]
