"""Benchmark `upare projections rebuild friends` and `... recommendations` against
eventsourcing's ProjectionRunner and a decode-only scan of the same events, in the same run.

Run `python bench/bench_rebuild_social.py [--users 5000] [--friendships 50000] [--backend
auto|postgres|sqlite]`; it prints, for friends and for recommendations, `BENCH rebuild <name>:
<v> events/s; ProjectionRunner <b> events/s; ratio <r> (target 25); decode-only scan <s>
events/s; ratio <q> (target 0.3); peak RSS <m> MB`.

- The store gets `--friendships` Friendship.Made events between `--users` uids, skewed as
  `bench_friends` skews them (a few users with hundreds of friends, most with a few), saved
  1,000 a transaction, then an Ended event for every tenth friendship.
- rebuild and decode-only scan: as in `bench_rebuild` (`upare projections rebuild NAME` in its
  own process, the median of `--repeat`; the log read and decoded by `EventLog.read`).
- baseline: the friends list (two rows per friendship, gone when it ends) kept by an
  `eventsourcing.projection.Projection` under `ProjectionRunner` on PostgreSQL (one transaction
  per event with its tracking record), for at most `--baseline-seconds`; on SQLite the same
  projection fed by the `ApplicationSubscription`-like loop of `bench_rebuild`. It is the
  baseline of both rebuilds (recommendations does more per event: its ratio is the harder).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from bench_friends import random_pairs
from bench_rebuild import decode_scan, rebuilds
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment, get_topic
from fresh import fresh_container, pick_backend
from psycopg.sql import SQL, Identifier

from commands.application import WriteApplication
from domain.friends import Friendship
from projections.friends import FriendsProjection
from upare.bootstrap import Container
from upare.settings import postgres_env
from upare.store import build_vault

COLUMNS = FriendsProjection.tables["list"]
INSERT = (
    "INSERT INTO es_friends (uid, friend, friendship_id, round, since) VALUES ({0}, {0}, {0},"
    " 1, {0}), ({0}, {0}, {0}, 1, {0}) ON CONFLICT (uid, friend) DO NOTHING"
)
DELETE = "DELETE FROM es_friends WHERE friendship_id = {0}"
INDEX = "CREATE INDEX IF NOT EXISTS es_friends_friendship_id ON es_friends (friendship_id)"


def made_rows(event: Any) -> tuple[Any, ...]:
    """Return the parameters of the two list rows of a Friendship.Made domain event."""
    since, fid = event.timestamp.isoformat(), str(event.originator_id)
    return (event.low, event.high, fid, since, event.high, event.low, fid, since)


class PostgresFriendsView(PostgresTrackingRecorder):
    """The friends list and its tracking, written together in one transaction per event."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = Identifier(self.datastore.schema)
        self.sql_create_statements.append(
            SQL(f"CREATE TABLE IF NOT EXISTS {{0}}.es_friends ({COLUMNS})").format(schema)
        )
        self.sql_create_statements.append(SQL(INDEX))  # type: ignore[arg-type]

    def write(self, sql: str, row: tuple[Any, ...], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(sql.format("%s"), row)
            self._insert_tracking(cursor, tracking)


class SqliteFriendsView(SQLiteTrackingRecorder):
    """The same view in a SQLite file."""

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        return [*statements, f"CREATE TABLE IF NOT EXISTS es_friends ({COLUMNS})", INDEX]

    def write(self, sql: str, row: tuple[Any, ...], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(sql.format("?"), row)
            self._insert_tracking(cursor, tracking)


class FriendsListProjection(Projection[Any]):
    """The friends list written the eventsourcing way."""

    name = "esfriends"
    topics = (get_topic(Friendship.Made), get_topic(Friendship.Ended))

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register(Friendship.Made)
    def made(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.write(INSERT, made_rows(domain_event), tracking)

    @process_event.register(Friendship.Ended)
    def ended(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.write(DELETE, (str(domain_event.originator_id),), tracking)


def store_friendships(container: Container, users: int, count: int) -> None:
    """Store `count` skewed friendships 1,000 a transaction, then end every tenth."""
    pairs = random_pairs(users, count)
    made = []
    for start in range(0, count, 1000):
        batch = [Friendship.make(low, high) for low, high in pairs[start : start + 1000]]
        container.app.save(*batch)
        made += batch[::10]
    for start in range(0, len(made), 1000):
        ended = made[start : start + 1000]
        for friendship in ended:
            friendship.end(friendship.low)
        container.app.save(*ended)


def baseline_postgres(container: Container, last: int, limit: float) -> tuple[int, float]:
    """Run ProjectionRunner until it tracked `last` (or `limit` s); return (events, seconds)."""
    settings = container.settings

    class Store(WriteApplication):
        """The store as the runner reads it: personal data opened with the store's keys."""

        name = WriteApplication.name

        def __init__(self, env: dict[str, str] | None = None) -> None:
            super().__init__(env, build_vault(settings, False), settings.secret_key)

    started = time.perf_counter()
    with ProjectionRunner(
        application_class=Store,
        projection_class=FriendsListProjection,
        view_class=PostgresFriendsView,
        env=postgres_env(settings.database_url),
    ) as runner:
        done = 0
        while done < last and time.perf_counter() - started < limit:
            time.sleep(0.05)
            done = runner.view.max_tracking_id(runner.app_name) or 0
        seconds = time.perf_counter() - started
    return done, seconds


def baseline_sqlite(container: Container, last: int, limit: float) -> tuple[int, float]:
    """Feed the projection as ApplicationSubscription would; return (events, seconds)."""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(container.settings.sqlite_dir / "esfriends.sqlite3"),
    }
    started = time.perf_counter()
    view = InfrastructureFactory.construct(
        env=Environment(FriendsListProjection.name, env)
    ).tracking_recorder(SqliteFriendsView)
    projection = FriendsListProjection(view=view)
    store, done = container.app, 0
    while done < last and time.perf_counter() - started < limit:
        page = store.recorder.select_notifications(done, 500, inclusive_of_start=False)
        for notification in page:
            tracking = Tracking(store.name, notification.id)
            projection.process_event(store.mapper.to_domain_event(notification), tracking)
        done = page[-1].id
    return done, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--friendships", type=int, default=50_000)
    parser.add_argument("--backend", choices=["auto", "postgres", "sqlite"], default="auto")
    parser.add_argument("--baseline-seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median counts")
    args = parser.parse_args()
    backend = pick_backend(args.backend)
    with fresh_container(backend) as container:
        began = time.perf_counter()
        store_friendships(container, args.users, args.friendships)
        last = container.log.head()
        print(f"# {backend}: {last} events stored in {time.perf_counter() - began:.1f} s")
        results = {
            name: rebuilds(container, name, args.repeat) for name in ("friends", "recommendations")
        }
        scan = statistics.median(decode_scan(container) for _ in range(args.repeat))
        run = baseline_postgres if backend == "postgres" else baseline_sqlite
        events, seconds = run(container, last, args.baseline_seconds)
        baseline = events / seconds
        print(f"# baseline: {events} events in {seconds:.2f} s")
    for name, (rate, _, rss) in results.items():
        print(
            f"BENCH rebuild {name}: {rate:,.0f} events/s; ProjectionRunner {baseline:,.0f}"
            f" events/s; ratio {rate / baseline:.1f} (target 25); decode-only scan {scan:,.0f}"
            f" events/s; ratio {rate / scan:.2f} (target 0.3); peak RSS {rss:.0f} MB"
        )


if __name__ == "__main__":
    main()
