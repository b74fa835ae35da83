"""Apply events to a projection exactly once in effect, tracking each aggregate's version.

A handler that raises stops the batch (`HandlerFailed`); the feed retries the batch with
backoff (`with_retries`) and, when the retries are spent, applies it once more carefully: each
event in a savepoint, a failing event parked (`projections.dead_letters`) and the rest of the
batch applied, except the later events of a parked event's aggregate, which wait behind it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from projections import catalog, dead_letters
from projections.base import Projection
from projections.database import ReadDB, Transaction
from projections.events import EventRecord
from upare.outages import is_outage

log = logging.getLogger(__name__)
T = TypeVar("T")


class HandlerFailed(Exception):
    """A projection's handler raised on one event."""

    def __init__(self, projection: Projection, event: EventRecord, error: Exception) -> None:
        super().__init__(
            f"{projection.name} failed on {event.type} {event.originator_id} v{event.version}"
            f" (position {event.position}): {error!r}"
        )
        self.event = event
        self.error = error


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a failing batch is retried before its culprit is parked."""

    attempts: int = 3
    backoff: float = 0.05  # seconds before the first retry, doubled before each next one


def with_retries(
    run: Callable[[int | None], T], retry: Retry, stop: threading.Event | None = None
) -> T:
    """Call `run(None)` (one whole transaction) until no handler fails, then `run(attempts)`.

    The last call is the careful one: `run` passes the number of attempts to `apply_batch`,
    which then parks the events that still fail instead of raising. When `stop` is set during
    a backoff, the failure is raised instead: a process that stops parks nothing.
    """
    pause = retry.backoff
    for attempt in range(1, retry.attempts + 1):
        try:
            return run(None)
        except HandlerFailed as ex:
            log.warning("attempt %d of %d: %s", attempt, retry.attempts, ex)
            if stop is not None and stop.wait(pause):
                raise
        pause *= 2
    return run(retry.attempts + 1)


def tracked_versions(
    tx: Transaction, projection: Projection, originator_ids: set[str]
) -> dict[str, int]:
    """Return the last applied version of each of these aggregates that has one."""
    if not originator_ids:
        return {}
    among, ids = tx.among("originator_id", sorted(originator_ids))
    rows = tx.fetchall(
        "SELECT originator_id, version FROM projection_tracking"
        f" WHERE projection = ? AND generation = ? AND {among}",
        (projection.name, projection.generation, *ids),
    )
    return {row[0]: int(row[1]) for row in rows}


TRACK = (
    "INSERT INTO projection_tracking (projection, generation, originator_id, version)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (projection, generation, originator_id)"
    " DO UPDATE SET version = excluded.version"
)
SET_ASIDE = (  # a plain INSERT into a table with no key: a rebuild's load COPYs it
    "INSERT INTO projection_loading (projection, generation, originator_id, version)"
    " VALUES (?, ?, ?, ?)"
)


def track(
    tx: Transaction, projection: Projection, versions: Mapping[str, int], loading: bool = False
) -> None:
    """Record the last applied version of these aggregates.

    While a rebuild loads a fresh generation in order (`loading`), the versions are set aside
    instead, appended to `projection_loading`, and `fold_loaded` makes them the records once,
    at the load's end: an upsert of each aggregate's record on every page it comes back in
    cost the friends rebuild 1.8 s of 8 (50,000 friendships, each on its making's page and
    again on its notification's), its every row a speculative insert into the shared index.
    """
    rows = [(projection.name, projection.generation, oid, v) for oid, v in versions.items()]
    tx.execute_rows(SET_ASIDE if loading else TRACK, rows)


def fold_loaded(tx: Transaction, projection: Projection) -> None:
    """Make the versions a load set aside (`track`) this generation's tracking records, the
    latest of each aggregate, and forget them.

    A plain INSERT: a load sets versions aside only while its generation has no records (it
    is fresh and applied in order; the first page applied otherwise folds them first). In
    the key's order: each record then goes next to the one before in the index, not at a
    random place of it (a million records in 3.1-3.4 s, 7.2-7.7 s in the hash's order).
    """
    key = (projection.name, projection.generation)
    tx.execute(
        "INSERT INTO projection_tracking (projection, generation, originator_id, version)"
        " SELECT projection, generation, originator_id, max(version) FROM projection_loading"
        " WHERE projection = ? AND generation = ? GROUP BY projection, generation, originator_id"
        " ORDER BY originator_id",
        key,
    )
    tx.execute("DELETE FROM projection_loading WHERE projection = ? AND generation = ?", key)


def apply_batch(
    tx: Transaction,
    projection: Projection,
    events: Sequence[EventRecord],
    *,
    careful: int | None = None,
    in_order: bool = False,
) -> int:
    """Apply, in this transaction, the events of a batch that are new to the projection.

    An event whose aggregate version is not newer than the one recorded is a duplicate and
    changes nothing; an event of an aggregate with a parked event waits behind it. A handler
    that raises raises `HandlerFailed`, unless `careful` (the attempts made so far) is given:
    then each event runs in a savepoint and a failing one is parked. Returns how many events
    were applied.

    `in_order` tells that the generation got every event before these, once each and in the
    log's order, and has parked none (a fresh generation's load): then no event can be a
    duplicate and none waits, and the two lookups that would tell are skipped; in a rebuild's
    load (`Projection.bulk` too) the versions are then set aside (`track`).
    """
    mine = [event for event in events if projection.wants(event.topic)]
    ids = {event.originator_id for event in mine}
    versions = {} if in_order else tracked_versions(tx, projection, ids)
    stuck = set() if in_order else dead_letters.blocked(tx, projection, ids)
    applied: dict[str, int] = {}
    count = 0
    for event in mine:
        oid = event.originator_id
        if versions.get(oid, 0) >= event.version:
            continue
        if oid in stuck:
            dead_letters.park(tx, projection, event, status=dead_letters.WAITING)
            continue
        if careful is None:
            try:
                projection.apply(tx, event)
            except Exception as ex:
                if is_outage(ex):
                    raise  # not the event's fault: the feed waits and tries it again
                raise HandlerFailed(projection, event, ex) from ex
        elif not _apply_in_savepoint(tx, projection, event, careful):
            stuck.add(oid)
            continue
        versions[oid] = applied[oid] = event.version
        count += 1
    if applied:
        track(tx, projection, applied, loading=in_order and projection.bulk)
    return count


def _apply_in_savepoint(
    tx: Transaction, projection: Projection, event: EventRecord, attempts: int
) -> bool:
    tx.execute("SAVEPOINT upare_apply")
    try:
        projection.apply(tx, event)
    except Exception as ex:
        if is_outage(ex):
            raise
        tx.execute("ROLLBACK TO SAVEPOINT upare_apply")
        tx.execute("RELEASE SAVEPOINT upare_apply")
        log.error("parking %s", HandlerFailed(projection, event, ex))
        dead_letters.park(
            tx, projection, event, status=dead_letters.PARKED, error=repr(ex), attempts=attempts
        )
        return False
    tx.execute("RELEASE SAVEPOINT upare_apply")
    return True


def retry_parked(db: ReadDB, cls: type[Projection], originator_id: str) -> int:
    """Re-apply an aggregate's parked event and the events waiting behind it, in order.

    Returns how many are still parked or waiting (0 when all applied).
    """
    return _release(db, cls, originator_id, skip_first=False)


def skip_parked(db: ReadDB, cls: type[Projection], originator_id: str) -> int:
    """Give up on an aggregate's parked event and apply the events waiting behind it."""
    return _release(db, cls, originator_id, skip_first=True)


def _release(db: ReadDB, cls: type[Projection], originator_id: str, skip_first: bool) -> int:
    with db.transaction() as tx:
        projection = cls(catalog.lock_live(tx, cls.name))
        events = [letter.event for letter in dead_letters.take_open(tx, projection, originator_id)]
        if not events:
            raise LookupError(f"{cls.name} has no parked event of aggregate {originator_id}")
        if skip_first:
            skipped = events.pop(0)
            dead_letters.settle(tx, projection, originator_id, dead_letters.SKIPPED, skipped)
            if tracked_versions(tx, projection, {originator_id}).get(originator_id, 0) < (
                skipped.version
            ):
                track(tx, projection, {originator_id: skipped.version})
        apply_batch(tx, projection, events, careful=1)
        dead_letters.settle(tx, projection, originator_id, dead_letters.APPLIED)
        return dead_letters.count_open(tx, projection, originator_id)
