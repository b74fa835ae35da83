"""How far a projection's live generation has got: its watermark."""

from __future__ import annotations

from projections.catalog import STORE_FEED
from projections.database import ReadDB, Transaction


def watermark(db: ReadDB | Transaction, name: str) -> int:
    """Return the position up to which the live generation of a projection has every event.

    Every event at or below the watermark W has been applied (or parked as a dead letter).

    - Store feed: the generation's position on the store's log (feed `STORE_FEED`).
    - Kafka: the relay records, after Kafka acknowledged a page, its published position R and
      each partition's end offset E (one past the last offset it was acknowledged there) in
      `relay_position`, all in one transaction. The projector records, per generation and
      partition, the last position applied L (`projection_positions`) and the next offset C
      (`projection_offsets`), after the transaction that applied the events before C. A
      partition receives its events in increasing position, so a partition with C >= E has
      every event up to R, and one with a backlog (C < E) every event up to L.
      W is the smallest of those bounds: the smallest last-applied position among the
      partitions with a backlog, or R when none has one.
    - A generation built from the store (a rebuild) has every event up to its store-feed
      position S, so each partition's bound is at least S, and W at least S.

    One SELECT over the read-model database; no Kafka calls.
    """
    rows = db.fetchall(
        "SELECT f.position, r.feed, r.end_offset, r.position, o.next_offset, p.position"
        " FROM projection_state s"
        " LEFT JOIN projection_positions f ON f.projection = s.name"
        " AND f.generation = s.generation AND f.feed = ?"
        " LEFT JOIN relay_position r ON 1 = 1"
        " LEFT JOIN projection_offsets o ON o.projection = s.name"
        " AND o.generation = s.generation AND o.feed = r.feed"
        " LEFT JOIN projection_positions p ON p.projection = s.name"
        " AND p.generation = s.generation AND p.feed = r.feed"
        " WHERE s.name = ?",
        (STORE_FEED, name),
    )
    if not rows:
        return 0
    store = int(rows[0][0] or 0)
    if rows[0][1] is None:  # no relay: the store feed alone
        return store
    bounds = [
        int(relay) if (applied_offset or 0) >= int(end) else max(int(applied or 0), store)
        for _, _, end, relay, applied_offset, applied in rows
    ]
    return max(store, min(bounds))
