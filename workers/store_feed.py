"""Run projections straight from the event store's notification log (the embedded feed)."""

from __future__ import annotations

import logging
import threading
from functools import partial

from commands.store import EventStore
from projections import catalog
from projections.apply import HandlerFailed, Retry, apply_batch, with_retries
from projections.base import Projection
from projections.database import ReadDB
from workers.records import to_records
from workers.store_waker import StoreWaker

log = logging.getLogger(__name__)
BATCH = 1000


class StoreFeed:
    """Feed every live projection the store's events, a batch per read-model transaction."""

    def __init__(
        self,
        store: EventStore,
        db: ReadDB,
        projection_classes: list[type[Projection]],
        retry: Retry | None = None,
    ) -> None:
        self.store = store
        self.db = db
        self.projection_classes = projection_classes
        self.retry = retry or Retry.from_env()

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Apply the next batch of events to each projection; return how many were read."""
        return sum(
            with_retries(partial(self._feed, cls), self.retry, stop)
            for cls in self.projection_classes
        )

    def _feed(self, cls: type[Projection], careful: int | None) -> int:
        """In one transaction, apply one projection its next batch (see `with_retries`)."""
        with self.db.transaction() as tx:
            projection = cls(catalog.lock_live(tx, cls.name))
            start = catalog.position(tx, projection)
            notifications = self.store.recorder.select_notifications(
                start, BATCH, inclusive_of_start=False
            )
            if not notifications:
                return 0
            records = to_records(notifications, self.store.mapper.transcoder)
            apply_batch(tx, projection, records, careful=careful)
            catalog.set_position(tx, projection, notifications[-1].id)
            catalog.notify_progress(tx)
            return len(notifications)

    def run(self, stop: threading.Event) -> None:
        """Follow the store until `stop` is set, woken by new events (see `StoreWaker`)."""
        log.info("projecting from the event store's log")
        with StoreWaker(self.store) as wake:
            while not stop.is_set():
                try:
                    if not self.run_once(stop):
                        wake(stop)
                except HandlerFailed:
                    if not stop.is_set():
                        raise  # stopped while retrying: the batch comes again next time
