"""Build the projections that are new to a deployment, or whose version changed, before use.

A feed (the store feed, the Kafka projector) calls `prepare` before it applies anything: each
projection whose live generation was not built with its current `version` is rebuilt from the
event store (`projections.rebuild`, the operators' rebuild path, with its progress logged),
so it never counts as caught up with history it has not applied. Several processes starting
together build each projection once: the others wait for it.
"""

from __future__ import annotations

import logging
import threading
import time

from projections import catalog
from projections.apply import Retry
from projections.base import Projection
from projections.database import ReadDB
from projections.events import EventLog
from projections.rebuild import Busy, Report, rebuild

logger = logging.getLogger(__name__)
REPORT_SECONDS = 2.0
BUSY_SECONDS = 0.5


def outdated(db: ReadDB, projection_classes: list[type[Projection]]) -> list[type[Projection]]:
    """Return the projections whose live generation was not built with their version."""
    with db.transaction(write=False) as tx:
        return [
            cls for cls in projection_classes if catalog.built_version(tx, cls.name) != cls.version
        ]


def progress_log(name: str) -> Report:
    """Return a rebuild report that logs the progress every few seconds."""
    last = 0.0

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= REPORT_SECONDS or done >= total:
            last = now
            share = done / total if total else 1.0
            logger.info("building %s: %d of %d events (%.0f%%)", name, done, total, share * 100)

    return report


def prepare(
    log: EventLog,
    db: ReadDB,
    projection_classes: list[type[Projection]],
    retry: Retry,
    stop: threading.Event | None = None,
) -> None:
    """Build every outdated projection from the event store, or wait while another process does."""
    stop = stop or threading.Event()
    while (todo := outdated(db, projection_classes)) and not stop.is_set():
        cls = todo[0]
        logger.info(
            "projection %s (version %d) is not built yet: building it", cls.name, cls.version
        )
        try:
            done = rebuild(log, db, cls, progress_log(cls.name), retry)
        except Busy:
            stop.wait(BUSY_SECONDS)  # another process builds it; look again
            continue
        logger.info(
            "projection %s: generation %d is live at position %d (%d events in %.1f s)",
            cls.name,
            done.generation,
            done.position,
            done.events,
            done.seconds,
        )
