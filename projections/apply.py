"""Apply events to a projection exactly once in effect, tracking each aggregate's version."""

from __future__ import annotations

from collections.abc import Sequence

from projections.base import EventRecord, Projection
from projections.database import Transaction


def tracked_versions(
    tx: Transaction, projection: Projection, originator_ids: set[str]
) -> dict[str, int]:
    """Return the last applied version of each of these aggregates that has one."""
    if not originator_ids:
        return {}
    ids = sorted(originator_ids)
    marks = ", ".join("?" * len(ids))
    rows = tx.fetchall(
        "SELECT originator_id, version FROM projection_tracking"
        f" WHERE projection = ? AND generation = ? AND originator_id IN ({marks})",
        (projection.name, projection.generation, *ids),
    )
    return {row[0]: int(row[1]) for row in rows}


def apply_batch(tx: Transaction, projection: Projection, events: Sequence[EventRecord]) -> int:
    """Apply, in this transaction, the events of a batch that are new to the projection.

    An event whose aggregate version is not newer than the one recorded is a duplicate and
    changes nothing. Returns how many events were applied.
    """
    mine = [event for event in events if event.type in projection.handlers]
    versions = tracked_versions(tx, projection, {event.originator_id for event in mine})
    applied = 0
    for event in mine:
        if versions.get(event.originator_id, 0) >= event.version:
            continue
        projection.apply(tx, event)
        versions[event.originator_id] = event.version
        applied += 1
    if applied:
        touched = {event.originator_id for event in mine}
        tx.executemany(
            "INSERT INTO projection_tracking (projection, generation, originator_id, version)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (projection, generation, originator_id)"
            " DO UPDATE SET version = excluded.version",
            [(projection.name, projection.generation, oid, versions[oid]) for oid in touched],
        )
    return applied
