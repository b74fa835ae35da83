"""The rebuild benches' baseline: eventsourcing's ProjectionRunner doing a projection's own work.

The runner's view is a TrackingRecorder as the library's documentation builds them: one
transaction per event, holding what the projection writes for it and the tracking record.
What it writes is the projection's own: its tables (generation `GENERATION`, beside the
rebuilds' generations in the same database) and its handlers, called with the runner's decoded
event as an `EventRecord`. So the baseline does, per event, exactly what the projection's live
feed does, with nothing of this project's batching.

On PostgreSQL it runs under `ProjectionRunner` (default settings); SQLite's recorder has no
subscriptions in eventsourcing 9.5, so there the same projection is fed by a loop doing what
`ApplicationSubscription` does (pages of 500 of the projection's topics,
`mapper.to_domain_event`, `process_event`). Its rate is steady, so it runs for at most
`limit` seconds and its time for the whole log is extrapolated from what it did by then.
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection as EsProjection
from eventsourcing.projection import ProjectionRunner
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment, get_topic
from psycopg.rows import tuple_row

from commands.application import WriteApplication
from projections import catalog
from projections.base import Projection
from projections.events import EventRecord
from projections.postgres import PostgresTransaction
from projections.sqlite import SqliteTransaction
from upare.bootstrap import Container
from upare.settings import postgres_env
from upare.store import build_vault

GENERATION = 99  # the baseline's tables: <name>_g99_<table>, never a rebuild's generation
SKIPPED = ("originator_id", "originator_version", "timestamp", "originator_topic")


def event_record(event: Any, tracking: Tracking) -> EventRecord:
    """Return the runner's decoded domain event as the projection's handlers take it."""
    data = {name: value for name, value in vars(event).items() if name not in SKIPPED}
    return EventRecord(
        tracking.notification_id,
        str(event.originator_id),
        event.originator_version,
        get_topic(type(event)),
        event.timestamp,
        data,
    )


class PostgresView(PostgresTrackingRecorder):
    """The projection's tables and the tracking, written in one transaction per event."""

    projection: Projection

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as cursor:
            catalog.create_tables(PostgresTransaction(cursor), self.projection)

    def apply(self, event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            tx = PostgresTransaction(cursor.connection.cursor(row_factory=tuple_row))
            self.projection.apply(tx, event_record(event, tracking))
            self._insert_tracking(cursor, tracking)


class SqliteView(SQLiteTrackingRecorder):
    """The same in a SQLite file."""

    projection: Projection

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as cursor:
            catalog.create_tables(SqliteTransaction(cursor), self.projection)

    def apply(self, event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            self.projection.apply(SqliteTransaction(cursor), event_record(event, tracking))
            self._insert_tracking(cursor, tracking)


class Runner(EsProjection[Any]):
    """An eventsourcing projection handing each event of its topics to its view."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply(domain_event, tracking)


def runner_of(cls: type[Projection]) -> type[Runner]:
    """Return the eventsourcing projection of the topics `cls` handles."""
    topics = tuple(get_topic(event_class) for event_class in cls.handlers)
    return type(f"Es{cls.__name__}", (Runner,), {"name": f"es{cls.name}", "topics": topics})


def view_of(base: type[Any], cls: type[Projection]) -> type[Any]:
    """Return the view class writing generation `GENERATION` of `cls`."""
    return type(f"{base.__name__}Of{cls.__name__}", (base,), {"projection": cls(GENERATION)})


def baseline(container: Container, cls: type[Projection], limit: float) -> float:
    """Run the baseline for at most `limit` s; return the seconds it takes for the whole log.

    The runner is given only the events of the topics `cls` handles (its subscription's topic
    filter), so its time goes on those: when it stops short, the whole log's time is its time
    scaled by the events it handles over the ones it did.
    """
    run = _postgres if container.settings.database_url.startswith("postgres") else _sqlite
    handled = handled_positions(container, cls)
    position, seconds = run(container, cls, handled[-1] if handled else 0, limit)
    done = bisect.bisect_right(handled, position)
    print(f"# baseline {cls.name}: {done} of its {len(handled)} events in {seconds:.2f} s")
    return seconds * len(handled) / max(done, 1)


def handled_positions(container: Container, cls: type[Projection]) -> list[int]:
    """Return the positions of the log's events of the topics `cls` handles."""
    topics, positions = runner_of(cls).topics, [0]
    while page := container.app.recorder.select_notifications(
        positions[-1], 10_000, topics=topics, inclusive_of_start=False
    ):
        positions += [notification.id for notification in page]
    return positions[1:]


def _postgres(
    container: Container, cls: type[Projection], last: int, limit: float
) -> tuple[int, float]:
    settings = container.settings

    class Store(WriteApplication):
        """The store as the runner reads it: personal data opened with the store's keys."""

        name = WriteApplication.name

        def __init__(self, env: dict[str, str] | None = None) -> None:
            super().__init__(env, build_vault(settings, False), settings.secret_key)

    started = time.perf_counter()
    with ProjectionRunner(
        application_class=Store,
        projection_class=runner_of(cls),
        view_class=view_of(PostgresView, cls),
        env=postgres_env(settings.database_url),
    ) as runner:
        done = 0
        while done < last and time.perf_counter() - started < limit:
            time.sleep(0.05)
            done = runner.view.max_tracking_id(runner.app_name) or 0
        seconds = time.perf_counter() - started
    return done, seconds


def _sqlite(
    container: Container, cls: type[Projection], last: int, limit: float
) -> tuple[int, float]:
    projection_class = runner_of(cls)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(container.settings.sqlite_dir / f"es{cls.name}.sqlite3"),
    }
    started = time.perf_counter()
    view = InfrastructureFactory.construct(
        env=Environment(projection_class.name, env)
    ).tracking_recorder(view_of(SqliteView, cls))
    projection = projection_class(view=view)
    store, done = container.app, 0
    while done < last and time.perf_counter() - started < limit:
        page = store.recorder.select_notifications(
            done, 500, topics=projection_class.topics, inclusive_of_start=False
        )
        if not page:
            break
        for notification in page:
            tracking = Tracking(store.name, notification.id)
            projection.process_event(store.mapper.to_domain_event(notification), tracking)
        done = page[-1].id
    return done, time.perf_counter() - started
