"""Run projections straight from the event store's notification log (the embedded feed)."""

from __future__ import annotations

import logging
import threading

from commands.store import EventStore
from projections import catalog
from projections.apply import apply_batch
from projections.base import Projection
from projections.database import ReadDB
from workers.records import to_records

log = logging.getLogger(__name__)
BATCH = 1000
IDLE_POLL_SECONDS = 0.02


class StoreFeed:
    """Feed every live projection the store's events, a batch per read-model transaction."""

    def __init__(
        self, store: EventStore, db: ReadDB, projection_classes: list[type[Projection]]
    ) -> None:
        self.store = store
        self.db = db
        self.projection_classes = projection_classes

    def run_once(self) -> int:
        """Apply the next batch of events to each projection; return how many were read."""
        read = 0
        for cls in self.projection_classes:
            with self.db.transaction() as tx:
                projection = cls(catalog.lock_live(tx, cls.name))
                start = catalog.position(tx, projection)
                notifications = self.store.recorder.select_notifications(
                    start, BATCH, inclusive_of_start=False
                )
                if not notifications:
                    continue
                apply_batch(tx, projection, to_records(notifications, self.store.mapper.transcoder))
                catalog.set_position(tx, projection, notifications[-1].id)
                read += len(notifications)
        return read

    def run(self, stop: threading.Event) -> None:
        """Follow the store until `stop` is set, polling briefly when there is nothing new."""
        log.info("projecting from the event store's log")
        while not stop.is_set():
            if not self.run_once():
                stop.wait(IDLE_POLL_SECONDS)
