"""The relay: publish the event store's log to Kafka, in order, from its tracked position.

It reads the log in pages, sends each event keyed by its aggregate id (so an aggregate's events
stay in order in one partition), waits until Kafka acknowledged the whole page (acks=all), and
only then records the page's last position, with each partition's end offset, in
`relay_position` (which `queries.freshness.watermark` reads). After a crash it publishes again
from the recorded position: an event may go out twice, never zero times.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

from kafka.errors import KafkaError

from projections.database import ReadDB
from projections.events import EventLog, Stored
from upare.outages import RideOut
from workers import kafka
from workers.store_waker import StoreWaker

log = logging.getLogger(__name__)
# Up to 5,000 events a page: each page waits, idle, for Kafka's acknowledgements of all of it
# (linger, then acks=all) and commits its position once, where a bare producer waits once at
# the end; fewer, larger pages narrow that gap. A quiet store's events still go out at once.
PAGE = 5000
FLUSH_SECONDS = 20.0  # a page not acknowledged by then is sent again by a new producer


class Relay:
    """Publish the store's events to the Kafka topic until stopped."""

    def __init__(
        self, log: EventLog, db: ReadDB, config: kafka.KafkaConfig, page: int = PAGE
    ) -> None:
        self.log = log
        self.db = db
        self.config = config
        self.page = page
        self.position = 0
        self.end_offsets: dict[int, int] = {}

    def run(self, stop: threading.Event) -> None:
        """Follow the store and publish until `stop` is set, riding out outages of any service."""
        partitions = kafka.until_reachable(partial(kafka.ensure_topic, self.config), stop, "relay")
        if partitions is None:
            return
        outage = RideOut("relay", stop)
        started = False
        while not started and not stop.is_set():
            with outage.step():
                self.start(partitions)
                started = True
        log.info("relaying from position %d to %s", self.position, self.config.topic)
        producer = None
        try:
            with StoreWaker(self.log) as wake:
                while not stop.is_set():
                    with outage.step():
                        try:
                            producer = producer or kafka.producer(self.config)
                            sent = self.publish_page(producer)
                        except KafkaError as ex:
                            log.warning("Kafka did not take the page, sending it again: %r", ex)
                            if producer is not None:
                                producer.close(timeout=0)
                            producer = None
                            stop.wait(1.0)
                            continue
                        if sent < self.page:
                            wake(stop)
        finally:
            if producer is not None:
                producer.close(timeout=5)

    def start(self, partitions: int) -> None:
        """Load the recorded position (refusing another topic's) and create missing rows."""
        with self.db.transaction() as tx:
            rows = tx.fetchall("SELECT feed, topic, position, end_offset FROM relay_position")
            others = sorted({row[1] for row in rows} - {self.config.topic})
            if others:
                raise SystemExit(
                    f"relay_position belongs to topic {others[0]!r}, not"
                    f" {self.config.topic!r}: a new topic needs a new read-model database"
                )
            self.position = min((int(row[2]) for row in rows), default=0)
            self.end_offsets = {int(row[0]): int(row[3]) for row in rows}
            for feed in range(partitions):
                self.end_offsets.setdefault(feed, 0)
            self._record(tx, self.position)

    def publish_page(self, producer: Any) -> int:
        """Publish the next page of events and record it once acknowledged; return its size."""
        page = self.log.notifications(self.position, self.page)
        if not page:
            return 0
        end_offsets = self._send(producer, page)
        with self.db.transaction() as tx:
            self.end_offsets = end_offsets
            self._record(tx, page[-1].id)
        self.position = page[-1].id
        return len(page)

    def _send(self, producer: Any, page: Sequence[Stored]) -> dict[int, int]:
        topic = self.config.topic
        futures = []
        for notification in page:
            key, value = kafka.encode(notification, self.log.plain_state(notification))
            futures.append(producer.send(topic, key=key, value=value))
        producer.flush(timeout=FLUSH_SECONDS)
        end_offsets = dict(self.end_offsets)
        for future in futures:
            sent = future.get(timeout=0)  # raises if Kafka did not take it
            end_offsets[sent.partition] = max(end_offsets.get(sent.partition, 0), sent.offset + 1)
        return end_offsets

    def _record(self, tx: Any, position: int) -> None:
        tx.executemany(
            "INSERT INTO relay_position (feed, topic, position, end_offset) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (feed) DO UPDATE SET position = excluded.position,"
            " end_offset = excluded.end_offset",
            [
                (feed, self.config.topic, position, end)
                for feed, end in sorted(self.end_offsets.items())
            ],
        )
