"""The projector: apply the events from Kafka to the projections, in a consumer group.

Per poll batch: decode the records, then for each projection that handles any of them run one
read-model transaction that locks the live generation, applies the batch (duplicates change
nothing) and records, per partition, the last position applied and the next offset. Kafka
offsets are committed only after those transactions, so a crash repeats, never skips.

The other projections, and the partitions that brought nothing, get their next offsets
recorded too (only when they moved), so `queries.freshness.watermark` can tell a caught-up
partition from one with a backlog.

A consumer can stall for good after the broker went away in the middle of a group join
(kafka-python polls on, assigned nothing, fetching nothing). `Stall` watches for that from
the read-model database alone: when the relay recorded events past what the projections
recorded, on this consumer's partitions (all of them while it has none), and none of the
recorded offsets moved for STALL_SECONDS, the consumer is closed and a new one joins.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from kafka.errors import CommitFailedError, KafkaError

from projections import catalog, lifecycle
from projections.apply import Retry, apply_batch, with_retries
from projections.base import Projection
from projections.database import ReadDB, Transaction
from projections.events import EventLog, EventRecord
from projections.wakeup import Poll
from queries.freshness import wait_for
from upare.outages import RideOut
from workers import kafka

log = logging.getLogger(__name__)
POLL_MS = 500  # the longest wait for records; `stop` is looked at in between
MAX_RECORDS = 1000
AFTER_WAIT_SECONDS = 1.0  # a wait for the projections another reads, between looks at `stop`
STALL_SECONDS = 30.0  # a backlog that nothing moved for this long: the consumer is replaced


@dataclass(frozen=True)
class Progress:
    """How far one partition's records were handled: next offset, last position (if any)."""

    next_offset: int
    position: int | None = None


class Projector:
    """Consume the event topic and keep the projections up to date until stopped."""

    def __init__(
        self,
        log: EventLog,
        db: ReadDB,
        projection_classes: list[type[Projection]],
        config: kafka.KafkaConfig,
        retry: Retry | None = None,
    ) -> None:
        self.log = log
        self.db = db
        self.projection_classes = projection_classes
        self.config = config
        self.retry = retry or Retry()
        self._recorded: dict[tuple[str, int, int], int] = {}  # (name, generation, feed): offset

    def run(self, stop: threading.Event) -> None:
        """Build what is outdated, then consume and project until `stop` is set.

        An outage of the read-model database (or the store, while building) is ridden out: the
        batch it interrupted is fetched again once the database is back.
        """
        outage = RideOut("projector", stop)
        prepared = False
        while not prepared and not stop.is_set():
            with outage.step():
                lifecycle.prepare(self.log, self.db, self.projection_classes, self.retry, stop)
                prepared = True
        while not stop.is_set():
            consumer = kafka.until_reachable(self._connect, stop, "projector")
            if consumer is None:
                return
            log.info("projecting from %s as group %s", self.config.topic, self.config.group)
            try:
                self._consume(consumer, outage, stop)
            finally:
                consumer.close(autocommit=False)

    def _consume(self, consumer: Any, outage: RideOut, stop: threading.Event) -> None:
        """Poll and project until `stop` is set, or until the consumer stalls (then return)."""
        stall = Stall(self.db, [cls.name for cls in self.projection_classes], STALL_SECONDS)
        while not stop.is_set():
            try:
                batch = consumer.poll(timeout_ms=POLL_MS)
            except KafkaError as ex:  # the broker went away: the client reconnects
                log.warning("polling Kafka failed, polling again: %r", ex)
                stop.wait(kafka.RETRY_SECONDS)
                continue
            with outage.step():
                try:
                    self.handle(consumer, batch, stop)
                except BaseException:
                    rewind(consumer, batch)  # the batch comes again next time
                    if stop.is_set():
                        return
                    raise
                if stall.stalled({tp.partition for tp in consumer.assignment()}):
                    log.warning(
                        "the projections' backlog has not moved for %.0f s: replacing the"
                        " Kafka consumer",
                        STALL_SECONDS,
                    )
                    return

    def _connect(self) -> Any:
        kafka.ensure_topic(self.config)
        consumer = kafka.consumer(self.config, MAX_RECORDS)
        try:
            # Know the topic's partitions before the first join: kafka-python 3.0.12 can stall
            # for good in the rebalance that a metadata change starts if a poll times out in it.
            consumer.partitions_for_topic(self.config.topic)
        except BaseException:
            consumer.close(autocommit=False)
            raise
        return consumer

    def handle(self, consumer: Any, batch: dict[Any, list[Any]], stop: threading.Event) -> None:
        """Project one poll batch, record every projection's progress, commit the offsets."""
        events: list[EventRecord] = []
        progress: dict[int, Progress] = {}
        for partition, records in batch.items():
            decoded = [kafka.decode(record.value, self.log) for record in records]
            events += decoded
            progress[partition.partition] = Progress(
                records[-1].offset + 1, max(event.position for event in decoded)
            )
        for cls in self.projection_classes:
            if any(cls.wants(event.topic) for event in events):
                self._wait_for_after(cls, events, stop)
                with_retries(partial(self._apply, cls, events, progress), self.retry, stop)
        self._record_the_rest(consumer, progress)
        if batch:
            try:
                consumer.commit(timeout_ms=10000)
            except (CommitFailedError, KafkaError) as ex:  # redelivered later: duplicates
                log.warning("offsets not committed: %r", ex)

    def _wait_for_after(
        self, cls: type[Projection], events: list[EventRecord], stop: threading.Event
    ) -> None:
        """Wait, outside any transaction, until what `cls` reads has passed its events.

        Its own consumer group may run ahead of the projections it reads (`Projection.after`);
        it waits as long as they lag, and raises `InterruptedError` when stopped meanwhile.
        """
        if not cls.after:
            return
        last = max(event.position for event in events if cls.wants(event.topic))
        while not wait_for(self.db, list(cls.after), last, AFTER_WAIT_SECONDS, Poll(0.02)):
            if stop.is_set():
                raise InterruptedError(f"stopped while {cls.name} waited for {cls.after}")
            log.info("%s waits for %s to pass position %d", cls.name, cls.after, last)

    def _apply(
        self,
        cls: type[Projection],
        events: list[EventRecord],
        progress: dict[int, Progress],
        careful: int | None,
    ) -> None:
        with self.db.transaction() as tx:
            projection = cls(catalog.lock_live(tx, cls.name))
            apply_batch(tx, projection, events, careful=careful)
            self._record(tx, projection, progress)
        self._remember(projection, progress)

    def _record_the_rest(self, consumer: Any, progress: dict[int, Progress]) -> None:
        """Record the offsets that moved for projections and partitions not recorded yet."""
        wanted = dict(progress)
        for partition in consumer.assignment():
            if partition.partition not in wanted:
                try:
                    offset = consumer.position(partition, timeout_ms=0)
                except KafkaError:
                    offset = None
                if offset is not None:
                    wanted[partition.partition] = Progress(offset)
        rows = self.db.fetchall("SELECT name, generation FROM projection_state")
        generations: dict[str, int] = {row[0]: int(row[1]) for row in rows}
        behind = [
            cls
            for cls in self.projection_classes
            if cls.name in generations
            and any(
                self._recorded.get((cls.name, generations[cls.name], feed)) != step.next_offset
                for feed, step in wanted.items()
            )
        ]
        if not behind:
            return
        with self.db.transaction() as tx:
            projections = [cls(catalog.lock_live(tx, cls.name)) for cls in behind]
            for projection in projections:
                self._record(tx, projection, wanted)
        for projection in projections:
            self._remember(projection, wanted)

    def _record(
        self, tx: Transaction, projection: Projection, progress: dict[int, Progress]
    ) -> None:
        for feed, step in progress.items():
            if self._recorded.get((projection.name, projection.generation, feed)) == (
                step.next_offset
            ):
                continue
            if step.position is not None:
                catalog.set_position(tx, projection, step.position, feed=feed)
            tx.execute(
                "INSERT INTO projection_offsets (projection, generation, feed, next_offset)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (projection, generation, feed)"
                " DO UPDATE SET next_offset = excluded.next_offset",
                (projection.name, projection.generation, feed, step.next_offset),
            )
        catalog.notify_progress(tx)

    def _remember(self, projection: Projection, progress: dict[int, Progress]) -> None:
        for feed, step in progress.items():
            self._recorded[(projection.name, projection.generation, feed)] = step.next_offset


class Stall:
    """Tell a consumer that stalled: a backlog on its partitions that nothing moved for long."""

    def __init__(self, db: ReadDB, names: list[str], seconds: float) -> None:
        self.db = db
        self.names = names
        self.seconds = seconds
        self.seen: dict[int, int] | None = None
        self.since = time.monotonic()
        self.looked = 0.0

    def stalled(self, assigned: set[int]) -> bool:
        """Look (every few seconds) whether the backlog moved; True once it has not for long."""
        now = time.monotonic()
        if now - self.looked < min(5.0, self.seconds / 3):
            return False
        self.looked = now
        ends, recorded = self._offsets()
        behind = {feed for feed, end in ends.items() if recorded.get(feed, 0) < end}
        if recorded != self.seen or not behind & (assigned or set(ends)):
            self.seen, self.since = recorded, now
            return False
        return now - self.since >= self.seconds

    def _offsets(self) -> tuple[dict[int, int], dict[int, int]]:
        """Return the relay's end offsets and the smallest recorded next offsets, by feed."""
        ends = {
            int(feed): int(end)
            for feed, end in self.db.fetchall("SELECT feed, end_offset FROM relay_position")
        }
        marks = ", ".join("?" for _ in self.names)
        rows = self.db.fetchall(
            "SELECT o.feed, MIN(o.next_offset) FROM projection_offsets o"
            " JOIN projection_state s ON s.name = o.projection AND s.generation = o.generation"
            f" WHERE s.name IN ({marks}) GROUP BY o.feed",
            tuple(self.names),
        )
        return ends, {int(feed): int(offset) for feed, offset in rows}


def rewind(consumer: Any, batch: dict[Any, list[Any]]) -> None:
    """Move the consumer back to the first record of each partition of an unhandled batch."""
    for partition, records in batch.items():
        consumer.seek(partition, records[0].offset)
