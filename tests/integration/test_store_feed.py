"""The embedded store feed on SQLite and on PostgreSQL: the projections of one pass share one
read of the log (an empty one too), a projection ahead of another takes its events from the
same read, and each projection is locked and its position read in one statement."""

from __future__ import annotations

import psycopg
import pytest

from commands.calendar import AddTodo
from commands.users import RegisterUser
from projections import catalog
from projections.calendar import CalendarProjection
from projections.events import EventLog, EventRecord
from projections.users import UsersProjection
from projections.watermark import watermark
from queries import calendar
from workers.store_feed import StoreFeed

START = "2026-12-10T09:00:00+00:00"


class CountedLog(EventLog):
    """The container's event log, counting its reads."""

    def __init__(self, log: EventLog) -> None:
        self.__dict__.update(vars(log))
        self.reads = 0

    def read(self, after: int, limit: int, stop: int | None = None) -> list[EventRecord]:
        self.reads += 1
        return super().read(after, limit, stop)


def store(container, name: str, todos: int) -> int:
    """Register a user and add their to-do events; return the uid."""
    uid = container.bus.execute(
        RegisterUser(username=name, password="correct horse", email=f"{name}@example.com")
    ).fields["uid"]
    for number in range(todos):
        container.bus.execute(AddTodo(uid=uid, title=f"todo {number}", start=START))
    return int(uid)


def test_projections_at_one_position_read_the_log_once_a_pass(container):
    counted = CountedLog(container.log)
    feed = StoreFeed(counted, container.db, container.projections)
    feed.run_once()  # builds the projections, then feeds them the empty log
    uid = store(container, "ada", 3)
    counted.reads = 0
    assert feed.run_once() > 0
    assert counted.reads == 1
    counted.reads = 0
    assert feed.run_once() == 0  # all at the head: one read finds nothing for them all
    assert counted.reads == 1
    head = container.log.head()
    assert all(watermark(container.db, cls.name) == head for cls in container.projections)
    assert [todo["title"] for todo in calendar.events(container.db, uid)] == [
        "todo 0",
        "todo 1",
        "todo 2",
    ]


def test_a_projection_ahead_of_another_takes_its_events_from_the_same_read(container):
    feed = StoreFeed(container.log, container.db, [UsersProjection, CalendarProjection])
    ada = store(container, "ada", 2)
    while feed.run_once():
        pass
    bob = store(container, "bob", 2)  # the calendar gets these, the users read model not yet
    while StoreFeed(container.log, container.db, [CalendarProjection]).run_once():
        pass
    carl = store(container, "carl", 2)
    counted = CountedLog(container.log)
    both = StoreFeed(counted, container.db, [UsersProjection, CalendarProjection])
    assert both.run_once()  # users: from before bob; the calendar: from before carl
    assert counted.reads == 1
    assert not both.run_once()
    head = container.log.head()
    assert watermark(container.db, UsersProjection.name) == head
    assert watermark(container.db, CalendarProjection.name) == head
    assert [len(calendar.events(container.db, uid)) for uid in (ada, bob, carl)] == [2, 2, 2]


def test_locking_a_projection_reads_its_generation_and_position_and_holds_its_state_row(
    container,
):
    StoreFeed(container.log, container.db, [UsersProjection]).run_once()
    with container.db.transaction() as tx:
        assert catalog.lock_live_position(tx, "users") == (catalog.lock_live(tx, "users"), 0)
        catalog.set_position(tx, UsersProjection(1), 42)
        assert catalog.lock_live_position(tx, "users") == (1, 42)
        assert catalog.lock_live_position(tx, "users", feed=3) == (1, 0)  # another feed's
        if container.db.dialect == "postgres":
            with (
                psycopg.connect(container.settings.database_url) as other,
                pytest.raises(psycopg.errors.LockNotAvailable),
            ):
                other.execute(
                    "SELECT 1 FROM projection_state WHERE name = 'users' FOR UPDATE NOWAIT"
                )
    with pytest.raises(LookupError), container.db.transaction() as tx:
        catalog.lock_live_position(tx, "nothing")
