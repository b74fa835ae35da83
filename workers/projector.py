"""The projector: apply the events from Kafka to the projections, in a consumer group.

Per poll batch: decode the records, then for each projection that handles any of them run one
read-model transaction that locks the live generation, applies the batch (duplicates change
nothing) and records, per partition, the last position applied and the next offset. Kafka
offsets are committed only after those transactions, so a crash repeats, never skips.

The other projections, and the partitions that brought nothing, get their next offsets
recorded too (only when they moved), so `queries.freshness.watermark` can tell a caught-up
partition from one with a backlog.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import partial
from typing import Any

from kafka.errors import CommitFailedError, KafkaError

from projections import catalog, lifecycle
from projections.apply import Retry, apply_batch, with_retries
from projections.base import Projection
from projections.database import ReadDB, Transaction
from projections.events import EventLog, EventRecord
from upare.outages import RideOut
from workers import kafka

log = logging.getLogger(__name__)
POLL_MS = 500  # the longest wait for records; `stop` is looked at in between
MAX_RECORDS = 1000


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
        consumer = kafka.until_reachable(self._connect, stop, "projector")
        if consumer is None:
            return
        log.info("projecting from %s as group %s", self.config.topic, self.config.group)
        try:
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
        finally:
            consumer.close(autocommit=False)

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
            decoded = [kafka.decode(record.value, self.log.transcoder) for record in records]
            events += decoded
            progress[partition.partition] = Progress(
                records[-1].offset + 1, max(event.position for event in decoded)
            )
        for cls in self.projection_classes:
            if any(cls.wants(event) for event in events):
                with_retries(partial(self._apply, cls, events, progress), self.retry, stop)
        self._record_the_rest(consumer, progress)
        if batch:
            try:
                consumer.commit(timeout_ms=10000)
            except (CommitFailedError, KafkaError) as ex:  # redelivered later: duplicates
                log.warning("offsets not committed: %r", ex)

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


def rewind(consumer: Any, batch: dict[Any, list[Any]]) -> None:
    """Move the consumer back to the first record of each partition of an unhandled batch."""
    for partition, records in batch.items():
        consumer.seek(partition, records[0].offset)
