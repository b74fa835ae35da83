"""Copy the store's events into a new generation of a projection, then switch it live: the
mechanism of `projections.rebuild` (a rebuild and a rollback both load with it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial

from projections import catalog
from projections.apply import Retry, apply_batch, fold_loaded, with_retries
from projections.base import Projection
from projections.batched import Batched
from projections.compare import Comparison, compare
from projections.database import ReadDB, Transaction
from projections.events import EventLog, EventRecord, Page
from projections.watermark import watermark

logger = logging.getLogger(__name__)
# Events read from the store at once and applied in one transaction. Each page costs its
# log query, transaction and a COPY or statement a table, and its events' aggregates come
# back tracked again on the next: the social benchmark's friends rebuild took 7.1-8.5 s in
# pages of 1,000, 5.6-5.7 in pages of 4,000, 5.2-5.3 in pages of 10,000 (peak RSS 103 MB
# at 2,000, 126 MB at 10,000).
PAGE = 10_000

PATIENT = threading.Event()  # never set: retries back off instead of giving up at once
Report = Callable[[int, int], None]  # (position reached, the store's last position)


class RebuildError(RuntimeError):
    """A rebuild that could not start or could not switch."""


class Mismatch(RebuildError):
    """A verified rebuild whose new generation differs from the live one: it did not switch."""

    def __init__(self, comparison: Comparison) -> None:
        differing = [table.table for table in comparison.tables if not table.matches]
        super().__init__(
            f"generation {comparison.new_generation} of {comparison.name!r} differs from the"
            f" live generation {comparison.live_generation} at position {comparison.position}"
            f" (tables {', '.join(differing)}); readers stay on generation"
            f" {comparison.live_generation} (--force switches anyway)"
        )
        self.comparison = comparison


class Copier:
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
        self.in_order = False  # every event so far applied once, in order, none parked
        self.head = 0  # the store's last position when last asked (`_report`)
        self.analyzed = PAGE // 2  # the events loaded when the tables were last analyzed
        self.unindexed: list[str] = []  # statements building the indexes the load waits for
        self.indexing = False  # the load's transaction now open builds them (`_index`)

    def _page(self, start: int, stop: int | None = None) -> Page:
        """Read the page after `start`, only the projection's own events decoded."""
        return self.log.read_some(start, PAGE, stop, self.projection.wants)

    def _apply(
        self,
        tx: Transaction,
        records: list[EventRecord],
        applied: int | None,
        careful: int | None,
    ) -> None:
        """Apply a page; events after `applied` (if given) run with their side effects."""
        fresh = 0 if applied is None else sum(record.position > applied for record in records)
        in_order = self.in_order and careful is None
        self.projection.replay = True
        head, tail = records[: len(records) - fresh], records[len(records) - fresh :]
        apply_batch(tx, self.projection, head, careful=careful, in_order=in_order)
        if fresh:
            self.projection.replay = False
            apply_batch(tx, self.projection, tail, careful=careful, in_order=in_order)

    def _report(self) -> None:
        """Report the position reached and the store's last position, asked again only once
        the position reached it (one query a pass, not one a page)."""
        if self.report is not None:
            if self.position >= self.head:
                self.head = self.log.head()
            self.report(self.position, max(self.head, self.position))

    def load(self) -> None:
        """Catch up in bulk (`Projection.bulk`), then record the versions set aside and,
        side by side with that, build the indexes still waiting and derive what the
        projection derives: neither reads the tracking records, and the records of a million
        aggregates took 4.5-5.4 s."""
        self.projection.bulk = True
        try:
            self.catch_up()
        finally:
            self.projection.bulk = False
        self.db.side_by_side([self._fold, self._finish])

    def _fold(self) -> None:
        """Record the versions the load set aside, in a transaction of its own."""
        with self.db.transaction() as tx:
            tx.commit_lazily()
            tx.bulk_settings()
            fold_loaded(tx, self.projection)

    def _finish(self) -> None:
        """Build the indexes still waiting, then derive what the projection derives."""
        with self._transaction() as tx:
            tx.bulk_settings()
            self._index(tx)
        self.projection.derive(self.db)

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        """Open a transaction of the load, committed lazily: the generation is read by nobody
        until the switch, whose commit is durable, and makes these so. Once it commits, the
        indexes it built (`_index`) wait no longer."""
        self.indexing = False
        with self.db.transaction() as tx:
            tx.commit_lazily()
            yield tx
        if self.indexing:
            self.unindexed = []

    def _index(self, tx: Transaction) -> None:
        """Build the indexes of the generation that wait (`Transaction.drop_indexes`).

        A fresh generation loads with its primary keys only: what the load sends while it
        takes pages in order is COPY, which no other index serves, and PostgreSQL builds an
        index from a loaded table in one sort, several times cheaper than keeping it row by
        row (the users' profiles: 4.6 s for 100,000 rows with their three indexes, 0.65 s
        without and about 1.0 s to build them after). The first page that sends anything
        else (a read, an UPDATE or DELETE, an upsert, statement by statement) builds them
        first, in its own transaction; the load's end builds them if none did. Unique
        indexes are kept through the load; one that fails to build fails the rebuild.
        """
        for definition in self.unindexed:
            try:
                tx.execute(definition)
            except Exception as ex:
                raise RebuildError(
                    f"generation {self.projection.generation} of {self.projection.name!r}"
                    f" could not build its index ({definition}): {ex}; it is not switched live"
                ) from ex
        self.indexing = bool(self.unindexed)

    def catch_up(self) -> None:
        """Apply what is stored, a page per transaction, until a page comes back short.

        A projection without side effects has its next page read and decoded by a reader
        thread while this one writes the page before (the writer mostly waits on the
        database, the reader on Python); one with side effects reads each page only up to
        what the live generation has handled by then, so it reads after each write.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="rebuild-reader") as reader:
            ahead: Future[Page] | None = None
            while True:
                if ahead is not None:
                    page = ahead.result()
                elif self.projection.has_side_effects:  # replay only what was handled already
                    page = self._page(self.position, self._handled())
                else:
                    page = self._page(self.position)
                ahead = None
                if page.size == PAGE and not self.projection.has_side_effects:
                    ahead = reader.submit(self._page, page.last)
                if page.records:
                    with_retries(partial(self._commit, page.records), self.retry, PATIENT)
                self.position, self.events = page.last, self.events + page.size
                if page.records and self.events >= 2 * self.analyzed:
                    self._analyze()
                self._report()
                if page.size < PAGE:
                    return

    def _analyze(self) -> None:
        """Refresh the planner's statistics of the generation's tables, each time the events
        loaded have doubled: a fresh table has none, and a page's bulk update joins with it
        (`PostgresTransaction.execute_rows`): without them PostgreSQL guesses 200 distinct
        values a column and scans the whole table a page (a rebuild quadratic in its events)
        instead of looking each row up in an index. A dozen times for a million events."""
        with self.db.transaction() as tx:
            for table in self.projection.tables:
                tx.execute(f"ANALYZE {self.projection.table(table)}")
        self.analyzed = self.events

    def _handled(self) -> int:
        """Return the position up to which the side effects ran already."""
        if self.handled is not None:
            return self.handled
        return watermark(self.db, self.projection.name)

    def _commit(self, page: list[EventRecord], careful: int | None) -> None:
        """Apply a page of the load in one transaction (`_transaction`); the generation's
        waiting indexes are built before anything but a COPY goes (`_index`)."""
        if careful is None:
            try:  # the fast way: each handler statement's rows sent together
                with self._transaction() as tx:
                    batched = Batched(  # the new generation is the rebuild's own
                        tx, copy=True, before_more=partial(self._index, tx)
                    )
                    self._apply(batched, page, None, None)  # type: ignore[arg-type]
                    batched.flush()
                return
            except Exception as ex:  # a row failed somewhere: again, one statement at a time
                logger.warning("a batched page failed (%r); applying it statement by statement", ex)
        self.in_order = False  # from now on an event may be parked: look before applying
        with self._transaction() as tx:
            fold_loaded(tx, self.projection)  # what the lookups then look at
            self._index(tx)
            self._apply(tx, page, None, careful)

    def switch(
        self, old: Projection, *, keep: bool = False, verify: bool = False, force: bool = False
    ) -> Comparison | None:
        """In one transaction: apply the rest, make the new generation live, keep or drop the
        old; with `verify`, compare them first (a mismatch raises, unless `force`)."""
        # Read before the lock: the live generation may pass it meanwhile, and a few events
        # then queue their messages again, which the outbox's key (no generation in it)
        # turns into nothing; none is ever lost.
        applied = self._handled() if self.projection.has_side_effects else None
        self.position, self.events, comparison = with_retries(
            lambda careful: self._switch(old, applied, careful, keep, verify, force),
            self.retry,
            PATIENT,
        )
        self._report()
        return comparison

    def _switch(
        self,
        old: Projection,
        applied: int | None,
        careful: int | None,
        keep: bool,
        verify: bool,
        force: bool,
    ) -> tuple[int, int, Comparison | None]:
        position, events = self.position, self.events
        with self.db.transaction() as tx:
            if catalog.lock_live(tx, old.name) != old.generation:
                raise RebuildError(f"projection {old.name!r} changed generation meanwhile")
            # Events stored from now on are the live feeds' again, after the switch: the tail
            # ends at the last position stored now (ids become visible in order: the store's
            # locked insert), so a busy writer cannot keep the switch, and the feeds, waiting.
            last = self.log.head()
            while position < last and (page := self._page(position, last)).size:
                self._apply(tx, page.records, applied, careful)
                position, events = page.last, events + page.size
            held = watermark(tx, old.name)  # the old generation has every event up to here
            comparison = None
            if verify:
                held = self._bring(tx, old, held, last, careful)
                comparison = compare(tx, old, self.projection, last)
                if not comparison.matches and not force:
                    raise Mismatch(comparison)
            version = catalog.built_version(tx, old.name)
            catalog.set_position(tx, self.projection, position)
            catalog.point_views(tx, self.projection)  # now built with its version
            before = catalog.kept(tx, old.name)
            if before is not None and before.generation != self.projection.generation:
                catalog.drop_generation(tx, type(old)(before.generation))
            if keep:
                catalog.set_position(tx, old, held)  # where a rollback catches it up from
                catalog.set_kept(tx, old.name, catalog.Kept(old.generation, version))
            else:
                catalog.drop_generation(tx, old)
                catalog.set_kept(tx, old.name, None)
            catalog.notify_progress(tx)
        return position, events, comparison

    def _bring(
        self, tx: Transaction, old: Projection, start: int, last: int, careful: int | None
    ) -> int:
        """Apply to the (locked) old generation the events up to `last` it lacks; no effects.

        If the switch happens, the new generation has run their effects; if not, this
        transaction rolls back and the live feeds apply them as usual.
        """
        old.replay = True
        while start < last and (page := self._page(start, last)).size:
            apply_batch(tx, old, page.records, careful=careful)
            start = page.last
        return last
