"""How far the read models have got, and waiting for them to reach a position."""

from __future__ import annotations

import time

from projections.catalog import STORE_FEED
from projections.database import ReadDB

MAX_WAIT_SECONDS = 5.0


def watermark(db: ReadDB, name: str) -> int:
    """Return the position up to which the live generation of a projection has every event."""
    row = db.fetchone(
        "SELECT p.position FROM projection_positions p JOIN projection_state s"
        " ON s.name = p.projection AND s.generation = p.generation"
        " WHERE p.projection = ? AND p.feed = ?",
        (name, STORE_FEED),
    )
    return 0 if row is None else int(row[0])


def wait_for(
    db: ReadDB, names: list[str], position: int, timeout: float = MAX_WAIT_SECONDS
) -> bool:
    """Wait until every named projection has passed `position`; tell whether they did in time."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while any(watermark(db, name) < position for name in names):
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
    return True
