"""Rebuild a projection as its next generation, straight from the event store, then switch.

The rebuild writes generation live+1 into tables of its own while the live generation keeps
serving and its feeds keep writing it. It reads the store's log in pages and applies each page
in one read-model transaction. Once it has caught up, one transaction locks the projection
against its feeds (`catalog.lock_live`), applies the events stored since, records the new
generation's position, points the views at it and drops the old generation: readers and feeds
see either the old generation or the new one, never a mix.

Side effects: the rebuild replays with `projection.replay = True`. A projection with side
effects never replays past the live generation's watermark; the events after it, which the
live generation may not have handled yet, are applied by the switch with `replay = False`, so
their side effects run, as the live generation would have run them. A projection that was
never built (new to the deployment) has no live generation to honour: the history stored
when its build starts is replayed without side effects, and only what comes after has them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from projections import catalog
from projections.apply import Retry, apply_batch, with_retries
from projections.base import Projection
from projections.batched import Batched
from projections.database import ReadDB, Transaction
from projections.events import EventLog, EventRecord
from projections.watermark import watermark

logger = logging.getLogger(__name__)
PAGE = 1000  # events read from the store at once and applied in one transaction

PATIENT = threading.Event()  # never set: retries back off instead of giving up at once
Report = Callable[[int, int], None]  # (position reached, the store's last position)


class RebuildError(RuntimeError):
    """A rebuild that could not start or could not switch."""


class Busy(RebuildError):
    """Another rebuild of the same projection is running."""


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did: the generation it made live, and how far and fast it went."""

    name: str
    generation: int
    position: int
    events: int
    seconds: float


def rebuild(
    log: EventLog,
    db: ReadDB,
    cls: type[Projection],
    report: Report | None = None,
    retry: Retry | None = None,
) -> Rebuilt:
    """Build the next generation of a projection from the event store and make it live."""
    started = time.monotonic()
    with db.exclusive(f"rebuild-{cls.name}") as free:
        if not free:
            raise Busy(f"a rebuild of {cls.name!r} is running already")
        with db.transaction() as tx:
            live = catalog.live_generation(tx, cls.name)
            if live is None:
                raise RebuildError(f"projection {cls.name!r} is not installed (`upare db init`)")
            built = catalog.built_version(tx, cls.name) is not None
            projection = cls(live + 1, replay=True)
            catalog.drop_generation(tx, projection)  # what an interrupted rebuild left behind
            catalog.create_tables(tx, projection)
        copier = _Copier(log, db, projection, report, retry or Retry())
        if not built:  # nothing live to honour: today's history is replayed without effects
            copier.handled = log.head()
        copier.catch_up()
        copier.switch(cls(live))
    seconds = time.monotonic() - started
    return Rebuilt(cls.name, projection.generation, copier.position, copier.events, seconds)


class _Copier:
    """Copy the store's events into one new generation, then switch it live.

    A handler that fails is treated as the feeds treat it (`projections.apply`): the batch is
    retried, then applied carefully with the failing event parked as a dead letter of the new
    generation, so that one bad event cannot make a projection impossible to rebuild.
    """

    def __init__(
        self,
        log: EventLog,
        db: ReadDB,
        projection: Projection,
        report: Report | None,
        retry: Retry,
    ) -> None:
        self.log = log
        self.db = db
        self.projection = projection
        self.report = report
        self.retry = retry
        self.position = 0
        self.events = 0
        self.handled: int | None = None  # a position up to which effects ran already

    def _page(self, start: int, stop: int | None = None) -> list[EventRecord]:
        return self.log.read(start, PAGE, stop)

    def _apply(
        self,
        tx: Transaction,
        records: list[EventRecord],
        applied: int | None,
        careful: int | None,
    ) -> None:
        """Apply a page; events after `applied` (if given) run with their side effects."""
        fresh = 0 if applied is None else sum(record.position > applied for record in records)
        self.projection.replay = True
        apply_batch(tx, self.projection, records[: len(records) - fresh], careful=careful)
        if fresh:
            self.projection.replay = False
            apply_batch(tx, self.projection, records[len(records) - fresh :], careful=careful)

    def _report(self) -> None:
        if self.report is not None:
            self.report(self.position, max(self.log.head(), self.position))

    def catch_up(self) -> None:
        """Apply what is stored, a page per transaction, until a page comes back short."""
        while True:
            bound = None
            if self.projection.has_side_effects:  # replay only what was handled already
                bound = self._handled()
            page = self._page(self.position, bound)
            if page:
                with_retries(partial(self._commit, page), self.retry, PATIENT)
                self.position, self.events = page[-1].position, self.events + len(page)
            self._report()
            if len(page) < PAGE:
                return

    def _handled(self) -> int:
        """Return the position up to which the side effects ran already."""
        if self.handled is not None:
            return self.handled
        return watermark(self.db, self.projection.name)

    def _commit(self, page: list[EventRecord], careful: int | None) -> None:
        if careful is None:
            try:  # the fast way: each handler statement's rows sent together
                with self.db.transaction() as tx:
                    batched = Batched(tx)
                    self._apply(batched, page, None, None)  # type: ignore[arg-type]
                    batched.flush()
                return
            except Exception as ex:  # a row failed somewhere: again, one statement at a time
                logger.warning("a batched page failed (%r); applying it statement by statement", ex)
        with self.db.transaction() as tx:
            self._apply(tx, page, None, careful)

    def switch(self, old: Projection) -> None:
        """In one transaction: apply the rest, make the new generation live, drop the old."""
        # Read before the lock: the live generation may pass it meanwhile, and a few events
        # then queue their messages again, which the outbox's key (no generation in it)
        # turns into nothing; none is ever lost.
        applied = self._handled() if self.projection.has_side_effects else None
        self.position, self.events = with_retries(
            lambda careful: self._switch(old, applied, careful), self.retry, PATIENT
        )
        self._report()

    def _switch(self, old: Projection, applied: int | None, careful: int | None) -> tuple[int, int]:
        position, events = self.position, self.events
        with self.db.transaction() as tx:
            if catalog.lock_live(tx, old.name) != old.generation:
                raise RebuildError(f"projection {old.name!r} changed generation meanwhile")
            # Events stored from now on are the live feeds' again, after the switch: the tail
            # ends at the last position stored now (ids become visible in order: the store's
            # locked insert), so a busy writer cannot keep the switch, and the feeds, waiting.
            last = self.log.head()
            while position < last and (page := self._page(position, last)):
                self._apply(tx, page, applied, careful)
                position, events = page[-1].position, events + len(page)
            catalog.set_position(tx, self.projection, position)
            catalog.point_views(tx, self.projection)  # now built with its version
            catalog.drop_generation(tx, old)
            catalog.notify_progress(tx)
        return position, events
