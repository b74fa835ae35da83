"""Events a projection could not apply, parked where an operator can see them.

A parked event blocks its aggregate: the later events of that aggregate are parked behind it
with the status `waiting`, so they never overtake it, while other aggregates go on. An operator
retries the parked event (which re-applies it and then the waiting ones, in order) or skips it
(which releases the waiting ones); see `projections.apply.retry_parked` and `skip_parked`.

Payloads are kept in the event store's JSON encoding (eventsourcing's transcoder with its
default transcodings, the ones `commands.store.EventStore` registers), so a parked event is
applied later exactly as it would have been.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from projections.base import Projection
from projections.database import ReadDB, Transaction
from projections.events import EventRecord

TABLE = "projection_dead_letters"
COLUMNS = (
    "projection TEXT NOT NULL, generation INTEGER NOT NULL, originator_id TEXT NOT NULL,"
    " version INTEGER NOT NULL, position BIGINT NOT NULL, topic TEXT NOT NULL,"
    " event_time TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,"
    " error TEXT NOT NULL, first_failed_at TEXT NOT NULL, last_failed_at TEXT NOT NULL,"
    " attempts INTEGER NOT NULL, PRIMARY KEY (projection, generation, originator_id, version)"
)
PARKED, WAITING, RETRYING, APPLIED, SKIPPED = "parked", "waiting", "retrying", "applied", "skipped"
OPEN = (PARKED, WAITING)


def _codec() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


CODEC = _codec()


@dataclass(frozen=True)
class DeadLetter:
    """One parked (or waiting, or settled) event of one projection's generation."""

    projection: str
    generation: int
    event: EventRecord
    status: str
    error: str
    first_failed_at: str
    last_failed_at: str
    attempts: int


def _now() -> str:
    return datetime.now(UTC).isoformat()


def blocked(tx: Transaction, projection: Projection, originator_ids: Iterable[str]) -> set[str]:
    """Return those of these aggregates that have a parked or waiting event."""
    wanted = sorted(set(originator_ids))
    if not wanted:
        return set()
    among, ids = tx.among("originator_id", wanted)
    rows = tx.fetchall(
        f"SELECT DISTINCT originator_id FROM {TABLE} WHERE projection = ? AND generation = ?"
        f" AND status IN (?, ?) AND {among}",
        (projection.name, projection.generation, *OPEN, *ids),
    )
    return {row[0] for row in rows}


def park(
    tx: Transaction,
    projection: Projection,
    event: EventRecord,
    *,
    status: str,
    error: str = "",
    attempts: int = 0,
) -> None:
    """Park one event (a redelivered copy of an event parked already changes nothing)."""
    now = _now()
    tx.execute(
        f"INSERT INTO {TABLE} (projection, generation, originator_id, version, position, topic,"
        " event_time, payload, status, error, first_failed_at, last_failed_at, attempts)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (projection, generation, originator_id, version) DO UPDATE"
        " SET status = excluded.status, error = excluded.error,"
        f" last_failed_at = excluded.last_failed_at,"
        f" attempts = {TABLE}.attempts + excluded.attempts"
        f" WHERE {TABLE}.status = ?",
        (
            projection.name,
            projection.generation,
            event.originator_id,
            event.version,
            event.position,
            event.topic,
            event.timestamp.isoformat(),
            CODEC.encode(event.data).decode(),
            status,
            error,
            now,
            now,
            attempts,
            RETRYING,  # only a retry parks a known event again; a redelivery does not
        ),
    )


def settle(
    tx: Transaction,
    projection: Projection,
    originator_id: str,
    status: str,
    event: EventRecord | None = None,
) -> None:
    """Close an aggregate's letters that a retry took (all, or just `event`) with `status`."""
    only = "" if event is None else " AND version = ?"
    tx.execute(
        f"UPDATE {TABLE} SET status = ? WHERE projection = ? AND generation = ?"
        f" AND originator_id = ? AND status = ?{only}",
        (
            status,
            projection.name,
            projection.generation,
            originator_id,
            RETRYING,
            *(() if event is None else (event.version,)),
        ),
    )


def count_open(tx: Transaction, projection: Projection, originator_id: str) -> int:
    """Return how many events of an aggregate are parked or waiting."""
    row = tx.fetchone(
        f"SELECT COUNT(*) FROM {TABLE} WHERE projection = ? AND generation = ?"
        " AND originator_id = ? AND status IN (?, ?)",
        (projection.name, projection.generation, originator_id, *OPEN),
    )
    return int(row[0]) if row else 0


def take_open(tx: Transaction, projection: Projection, originator_id: str) -> list[DeadLetter]:
    """Return an aggregate's parked and waiting events in order, marking them `retrying`."""
    key = (projection.name, projection.generation, originator_id, *OPEN)
    where = "projection = ? AND generation = ? AND originator_id = ? AND status IN (?, ?)"
    letters = _select(tx, where + " ORDER BY version", key)
    tx.execute(f"UPDATE {TABLE} SET status = ? WHERE {where}", (RETRYING, *key))
    return letters


def listing(db: ReadDB, name: str | None = None, everything: bool = False) -> list[DeadLetter]:
    """Return the open letters of the live generations (or all their letters), oldest first."""
    where = [
        "EXISTS (SELECT 1 FROM projection_state s"
        " WHERE s.name = d.projection AND s.generation = d.generation)"
    ]
    params: list[object] = []
    if name is not None:
        where.append("d.projection = ?")
        params.append(name)
    if not everything:
        where.append("d.status IN (?, ?)")
        params += OPEN
    with db.transaction(write=False) as tx:
        return _select(tx, " AND ".join(where) + " ORDER BY d.position", params)


def _select(tx: Transaction, where: str, params: Iterable[object]) -> list[DeadLetter]:
    rows = tx.fetchall(
        "SELECT projection, generation, originator_id, version, position, topic, event_time,"
        f" payload, status, error, first_failed_at, last_failed_at, attempts FROM {TABLE} d"
        f" WHERE {where}",
        tuple(params),
    )
    return [
        DeadLetter(
            projection=row[0],
            generation=int(row[1]),
            event=EventRecord(
                position=int(row[4]),
                originator_id=row[2],
                version=int(row[3]),
                topic=row[5],
                timestamp=datetime.fromisoformat(row[6]),
                data=CODEC.decode(row[7].encode()),
            ),
            status=row[8],
            error=row[9],
            first_failed_at=row[10],
            last_failed_at=row[11],
            attempts=int(row[12]),
        )
        for row in rows
    ]
