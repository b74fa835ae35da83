"""The projections' bookkeeping: live generations, their views, and their positions."""

from __future__ import annotations

from typing import NamedTuple

from projections import dead_letters, outbox
from projections.base import Projection
from projections.database import ReadDB, Transaction
from projections.wakeup import PROGRESS_CHANNEL

META_TABLES = {
    # the live generation of each projection, and the version it was built with (NULL: its
    # history is not applied yet, see projections.lifecycle)
    "projection_state": "name TEXT PRIMARY KEY, generation INTEGER NOT NULL, version INTEGER",
    # the generation a rebuild with --keep (or a rollback) left beside the live one, and the
    # version it was built with: `upare projections rollback` switches back to it
    "projection_kept": "name TEXT PRIMARY KEY, generation INTEGER NOT NULL, version INTEGER",
    "projection_tracking": (
        "projection TEXT NOT NULL, generation INTEGER NOT NULL, originator_id TEXT NOT NULL,"
        " version INTEGER NOT NULL, PRIMARY KEY (projection, generation, originator_id)"
    ),
    # the versions a rebuild's load applied, set aside until its end (`apply.fold_loaded`);
    # no key: the load appends by COPY
    "projection_loading": (
        "projection TEXT NOT NULL, generation INTEGER NOT NULL, originator_id TEXT NOT NULL,"
        " version INTEGER NOT NULL"
    ),
    "projection_positions": (
        "projection TEXT NOT NULL, generation INTEGER NOT NULL, feed INTEGER NOT NULL,"
        " position BIGINT NOT NULL, PRIMARY KEY (projection, generation, feed)"
    ),
    # Kafka: the next offset of each partition (feed) that a generation has consumed...
    "projection_offsets": (
        "projection TEXT NOT NULL, generation INTEGER NOT NULL, feed INTEGER NOT NULL,"
        " next_offset BIGINT NOT NULL, PRIMARY KEY (projection, generation, feed)"
    ),
    # ...and the relay's published position with each partition's end offset (workers/relay)
    "relay_position": (
        "feed INTEGER PRIMARY KEY, topic TEXT NOT NULL, position BIGINT NOT NULL,"
        " end_offset BIGINT NOT NULL"
    ),
    dead_letters.TABLE: dead_letters.COLUMNS,
}
INSTALL_LOCK = 7261001
STORE_FEED = -1  # the `feed` of positions read from the store's log; Kafka uses partitions


class Kept(NamedTuple):
    """A generation kept beside the live one, and the version it was built with (None: never)."""

    generation: int
    version: int | None


def create_tables(tx: Transaction, projection: Projection) -> None:
    """Create this generation's tables and indexes if they are missing."""
    for table, columns in projection.tables.items():
        tx.execute(f"CREATE TABLE IF NOT EXISTS {projection.table(table)} ({columns})")
        for column in projection.indexes.get(table, []):
            name = f"{projection.table(table)}_{column.replace(',', '_').replace(' ', '')}"
            tx.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {projection.table(table)} ({column})")


def drop_generation(tx: Transaction, projection: Projection) -> None:
    """Drop one generation's tables and forget its tracking and positions."""
    for table in projection.tables:
        tx.execute(f"DROP TABLE IF EXISTS {projection.table(table)}")
    for meta in (
        "projection_tracking",
        "projection_loading",
        "projection_positions",
        "projection_offsets",
        dead_letters.TABLE,
    ):
        tx.execute(
            f"DELETE FROM {meta} WHERE projection = ? AND generation = ?",
            (projection.name, projection.generation),
        )


def point_views(tx: Transaction, projection: Projection, built: bool = True) -> None:
    """Make the readers' views show this generation and record it as live.

    `built` tells that the generation holds the store's history (a rebuild's switch), so it
    carries its projection's version; a first generation made beside a non-empty store does
    not, until it is built.
    """
    for table in projection.tables:
        tx.execute(f"DROP VIEW IF EXISTS {projection.view(table)}")
        tx.execute(
            f"CREATE VIEW {projection.view(table)} AS SELECT * FROM {projection.table(table)}"
        )
    tx.execute(
        "INSERT INTO projection_state (name, generation, version) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET generation = excluded.generation,"
        " version = excluded.version",
        (projection.name, projection.generation, projection.version if built else None),
    )


def live_generation(tx: Transaction, name: str) -> int | None:
    """Return the generation readers see now, or None before the first install."""
    row = tx.fetchone("SELECT generation FROM projection_state WHERE name = ?", (name,))
    return None if row is None else int(row[0])


def lock_live(tx: Transaction, name: str) -> int:
    """Lock a projection against other writers for this transaction; return its live generation.

    Every writer of a projection's tables (the feeds, a rebuild's switch) starts its transaction
    here, so a switch of generations never interleaves with a batch. SQLite's BEGIN IMMEDIATE
    already serialises writers; PostgreSQL locks the projection's state row.
    """
    row = tx.fetchone(
        f"SELECT generation FROM projection_state WHERE name = ?{tx.for_update}", (name,)
    )
    if row is None:
        raise LookupError(f"projection {name!r} is not installed (run `upare db init`)")
    return int(row[0])


def lock_live_position(tx: Transaction, name: str, feed: int = STORE_FEED) -> tuple[int, int]:
    """Lock a projection as `lock_live` does; return its live generation and the last position
    that generation applied from one feed (0 before any), read in the same statement."""
    lock = f"{tx.for_update} OF s" if tx.for_update else ""  # the state row, not the join's
    row = tx.fetchone(
        "SELECT s.generation, p.position FROM projection_state s"
        " LEFT JOIN projection_positions p ON p.projection = s.name"
        f" AND p.generation = s.generation AND p.feed = ? WHERE s.name = ?{lock}",
        (feed, name),
    )
    if row is None:
        raise LookupError(f"projection {name!r} is not installed (run `upare db init`)")
    return int(row[0]), 0 if row[1] is None else int(row[1])


def install(db: ReadDB, projection_classes: list[type[Projection]], head: int) -> None:
    """Create the bookkeeping tables and a first live generation of every new projection.

    `head` is the event store's last position: beside an empty store a new generation is
    complete at once; beside a store with history it waits to be built (its version stays
    unset, see `projections.lifecycle`).
    """
    with db.transaction() as tx:
        tx.lock_exclusive(INSTALL_LOCK)  # processes starting together must not race on DDL
        for table, columns in META_TABLES.items():
            tx.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        outbox.create(tx)
        for cls in projection_classes:
            if live_generation(tx, cls.name) is None:
                projection = cls(1)
                create_tables(tx, projection)
                point_views(tx, projection, built=head == 0)


def built_version(tx: Transaction, name: str) -> int | None:
    """Return the version the live generation was built with (None: not built yet)."""
    row = tx.fetchone("SELECT version FROM projection_state WHERE name = ?", (name,))
    return None if row is None or row[0] is None else int(row[0])


def kept(tx: Transaction, name: str) -> Kept | None:
    """Return the generation kept beside the live one, if any."""
    row = tx.fetchone("SELECT generation, version FROM projection_kept WHERE name = ?", (name,))
    return None if row is None else Kept(int(row[0]), None if row[1] is None else int(row[1]))


def set_kept(tx: Transaction, name: str, generation: Kept | None) -> None:
    """Record the generation kept beside the live one (None: none is kept)."""
    tx.execute("DELETE FROM projection_kept WHERE name = ?", (name,))
    if generation is not None:
        tx.execute(
            "INSERT INTO projection_kept (name, generation, version) VALUES (?, ?, ?)",
            (name, *generation),
        )


def position(tx: Transaction, projection: Projection, feed: int = STORE_FEED) -> int:
    """Return the last position this generation applied from one feed (0 before any)."""
    row = tx.fetchone(
        "SELECT position FROM projection_positions"
        " WHERE projection = ? AND generation = ? AND feed = ?",
        (projection.name, projection.generation, feed),
    )
    return 0 if row is None else int(row[0])


def set_position(
    tx: Transaction, projection: Projection, value: int, feed: int = STORE_FEED
) -> None:
    """Record the last position this generation applied from one feed."""
    tx.execute(
        "INSERT INTO projection_positions (projection, generation, feed, position)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (projection, generation, feed)"
        " DO UPDATE SET position = excluded.position",
        (projection.name, projection.generation, feed, value),
    )


def notify_progress(tx: Transaction) -> None:
    """Wake the queries waiting for positions once this transaction commits.

    Every feed calls it after `set_position`. PostgreSQL delivers the NOTIFY at commit (and
    never for a rolled-back transaction); on SQLite waiters poll, so it does nothing.
    """
    tx.notify(PROGRESS_CHANNEL)
