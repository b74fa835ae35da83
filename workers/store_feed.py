"""Run projections straight from the event store's notification log (the embedded feed)."""

from __future__ import annotations

import logging
import threading
from functools import partial

from projections import catalog, lifecycle
from projections.apply import HandlerFailed, Retry, apply_batch, with_retries
from projections.base import Projection
from projections.database import ReadDB
from projections.events import EventLog
from projections.watermark import watermark
from upare.outages import RideOut
from workers.store_waker import StoreWaker

log = logging.getLogger(__name__)
BATCH = 1000


class StoreFeed:
    """Feed every live projection the store's events, a batch per read-model transaction.

    Projections new to the deployment, or whose version changed, are built first
    (`projections.lifecycle.prepare`). A projection that reads others (`Projection.after`)
    is given only the events those have passed.
    """

    def __init__(
        self,
        log: EventLog,
        db: ReadDB,
        projection_classes: list[type[Projection]],
        retry: Retry | None = None,
    ) -> None:
        self.log = log
        self.db = db
        self.projection_classes = projection_classes
        self.retry = retry or Retry()
        self.prepared = False

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Apply the next batch of events to each projection; return how many were read."""
        if not self.prepared:
            lifecycle.prepare(self.log, self.db, self.projection_classes, self.retry, stop)
            self.prepared = True
        return sum(
            with_retries(partial(self._feed, cls), self.retry, stop)
            for cls in self.projection_classes
        )

    def _feed(self, cls: type[Projection], careful: int | None) -> int:
        """In one transaction, apply one projection its next batch (see `with_retries`)."""
        bound = min((watermark(self.db, name) for name in cls.after), default=None)
        with self.db.transaction() as tx:
            projection = cls(catalog.lock_live(tx, cls.name))
            start = catalog.position(tx, projection)
            if bound is not None and bound <= start:
                return 0  # what it reads has not passed its next event yet
            records = self.log.read(start, BATCH, bound)
            if not records:
                return 0
            apply_batch(tx, projection, records, careful=careful)
            catalog.set_position(tx, projection, records[-1].position)
            catalog.notify_progress(tx)
            return len(records)

    def run(self, stop: threading.Event) -> None:
        """Follow the store until `stop` is set, woken by new events (see `StoreWaker`).

        An outage of the store or the read-model database is ridden out: the feed waits, with
        backoff, and goes on where it stopped.
        """
        log.info("projecting from the event store's log")
        outage = RideOut("store feed", stop)
        with StoreWaker(self.log) as wake:
            while not stop.is_set():
                with outage.step():
                    try:
                        if not self.run_once(stop):
                            wake(stop)
                    except HandlerFailed:
                        if not stop.is_set():
                            raise  # stopped while retrying: the batch comes again next time
