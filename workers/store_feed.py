"""Run projections straight from the event store's notification log (the embedded feed)."""

from __future__ import annotations

import logging
import threading
from functools import partial

from projections import catalog, lifecycle
from projections.apply import HandlerFailed, Retry, apply_batch, with_retries
from projections.base import Projection
from projections.database import ReadDB
from projections.events import EventLog, EventRecord
from projections.watermark import watermark
from upare.outages import RideOut
from workers.store_waker import StoreWaker

log = logging.getLogger(__name__)
BATCH = 1000


def covers(page: tuple[int, list[EventRecord]], after: int) -> bool:
    """Tell whether a page (its start, the events read after it) holds every event the log
    would answer after position `after`."""
    start, events = page
    return start <= after < events[-1].position if events else after == start


class StoreFeed:
    """Feed every live projection the store's events, a batch per read-model transaction.

    Projections new to the deployment, or whose version changed, are built first
    (`projections.lifecycle.prepare`). A projection that reads others (`Projection.after`)
    is given only the events those have passed. The projections of one pass share what it
    read of the log: six projections at one position read and decode one page, not six.
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
        self.page: tuple[int, list[EventRecord]] | None = None  # this pass's read: after, events

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Apply the next batch of events to each projection; return how many were read."""
        if not self.prepared:
            lifecycle.prepare(self.log, self.db, self.projection_classes, self.retry, stop)
            self.prepared = True
        self.page = None  # a new pass reads the log again
        return sum(
            with_retries(partial(self._feed, cls), self.retry, stop)
            for cls in self.projection_classes
        )

    def _feed(self, cls: type[Projection], careful: int | None) -> int:
        """In one transaction, apply one projection its next batch (see `with_retries`)."""
        bound = min((watermark(self.db, name) for name in cls.after), default=None)
        with self.db.transaction() as tx:
            generation, start = catalog.lock_live_position(tx, cls.name)
            projection = cls(generation)
            if bound is not None and bound <= start:
                return 0  # what it reads has not passed its next event yet
            records = self._read(start, bound)
            if not records:
                return 0
            apply_batch(tx, projection, records, careful=careful)
            catalog.set_position(tx, projection, records[-1].position)
            catalog.notify_progress(tx)
            return len(records)

    def _read(self, after: int, stop: int | None) -> list[EventRecord]:
        """Return the next batch after position `after` (up to `stop`): from the page this pass
        read already when it holds the events right after `after`, else from the log.

        The page is every event after its own start up to its last, so its events after
        `after` are those the log would answer (a projection at its last reads the log). An
        empty page answers a projection at its start: the log had nothing after it this pass
        (an event stored since wakes the next pass)."""
        page = self.page
        if page is not None and covers(page, after):
            records = [record for record in page[1] if record.position > after]
        else:
            records = self.log.read(after, BATCH)
            self.page = (after, records)
        return (
            records if stop is None else [record for record in records if record.position <= stop]
        )

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
