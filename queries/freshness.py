"""How far the read models have got, and waiting for them to reach a position."""

from __future__ import annotations

import time

from projections.database import ReadDB, Wakeup
from projections.wakeup import Poll
from projections.watermark import watermark

MAX_WAIT_SECONDS = 5.0


def wait_for(
    db: ReadDB,
    names: list[str],
    position: int,
    timeout: float = MAX_WAIT_SECONDS,
    wakeup: Wakeup | None = None,
) -> bool:
    """Wait until every named projection has passed `position`; tell whether they did in time.

    `wakeup` tells when to look again (the feeds' NOTIFY on PostgreSQL, `wakeup_for(db)`);
    without one, look every few milliseconds.
    """
    wakeup = wakeup or Poll()
    deadline = time.monotonic() + timeout
    while True:
        mark = wakeup.mark()
        if all(watermark(db, name) >= position for name in names):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        wakeup.wait(mark, remaining)
