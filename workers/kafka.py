"""The Kafka adapter: settings, the topic, producers and consumers, and the event envelope.

Each event travels as a CloudEvents 1.0 structured-mode JSON object whose `data` is the event's
stored state exactly as the event store's transcoder wrote it (with its `_type_` markers), so
the projector decodes the whole envelope with that same transcoder in one pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, TopicAlreadyExistsError

from projections.events import EventLog, EventRecord, Stored, event_type
from upare.settings import Settings

SOURCE = "upare"
# Find a restarted broker within a second or two, and give up a bootstrap soon enough for the
# caller to look at its stop event (see `until_reachable`).
CLIENT: dict[str, Any] = {"reconnect_backoff_max_ms": 1000, "bootstrap_timeout_ms": 5000}
RETRY_SECONDS = 1.0
log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class KafkaConfig:
    """Where the event topic is and how the relay and the projector use it."""

    bootstrap: str
    topic: str = "upare.events"
    partitions: int = 6
    replication: int = 1
    group: str = "upare-projector"
    instance_id: str = ""  # static group membership: a restarted member keeps its partitions
    session_timeout_ms: int = 10000
    linger_ms: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaConfig:
        """Take the `UPARE_KAFKA_*` settings."""
        return cls(
            bootstrap=settings.kafka_bootstrap,
            topic=settings.kafka_topic,
            partitions=settings.kafka_partitions,
            group=settings.kafka_group,
            instance_id=settings.kafka_instance_id,
            session_timeout_ms=settings.kafka_session_timeout_ms,
        )

    @property
    def servers(self) -> list[str]:
        return [server.strip() for server in self.bootstrap.split(",") if server.strip()]


def until_reachable(connect: Callable[[], T], stop: threading.Event, who: str) -> T | None:
    """Call `connect` until Kafka answers; return its result, or None once `stop` is set."""
    while not stop.is_set():
        try:
            return connect()
        except KafkaError as ex:
            log.warning("%s: Kafka is not reachable yet (%r); trying again", who, ex)
            stop.wait(RETRY_SECONDS)
    return None


def ensure_topic(config: KafkaConfig) -> int:
    """Create the event topic if it is missing; return its number of partitions."""
    admin = KafkaAdminClient(bootstrap_servers=config.servers, client_id="upare-admin", **CLIENT)
    topic = {"num_partitions": config.partitions, "replication_factor": config.replication}
    try:
        with suppress(TopicAlreadyExistsError):
            admin.create_topics({config.topic: topic}, wait_for_metadata=True)
        (described,) = admin.describe_topics([config.topic])
        return len(described["partitions"])
    finally:
        admin.close()


def producer(config: KafkaConfig) -> KafkaProducer:
    """Return a producer that waits for every in-sync replica and never reorders or doubles."""
    return KafkaProducer(
        bootstrap_servers=config.servers,
        client_id="upare-relay",
        acks="all",
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        linger_ms=config.linger_ms,
        batch_size=256 * 1024,
        max_request_size=8 * 1024 * 1024,
        **CLIENT,
    )


def consumer(config: KafkaConfig, max_poll_records: int = 1000) -> KafkaConsumer:
    """Return a consumer in the projector's group that commits only when told to."""
    extra: dict[str, Any] = {}
    if config.instance_id:
        extra["group_instance_id"] = config.instance_id
    return KafkaConsumer(
        config.topic,
        bootstrap_servers=config.servers,
        client_id="upare-projector",
        group_id=config.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        fetch_max_wait_ms=100,
        session_timeout_ms=config.session_timeout_ms,
        heartbeat_interval_ms=max(config.session_timeout_ms // 5, 500),
        **CLIENT,
        **extra,
    )


def encode(notification: Stored, state: bytes) -> tuple[bytes, bytes]:
    """Return the key (the aggregate id) and the CloudEvents envelope of one notification.

    orjson parses the state and writes the head: the relay's profile had the standard json
    module at about 40% of its time.
    """
    subject = notification.originator_id
    stored = orjson.loads(state)
    stamp = stored.get("timestamp")
    time = stamp.get("_data_") if isinstance(stamp, dict) else stamp
    head = orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{subject}:{notification.originator_version}",
            "type": event_type(notification.topic),
            "topic": notification.topic,
            "source": SOURCE,
            "subject": subject,
            "time": time,
            "datacontenttype": "application/json",
            "position": notification.id,
            "version": notification.originator_version,
            "dataversion": stored.get("class_version", 1),  # the schema version of `data`
        }
    )
    return subject.encode(), b"".join((head[:-1], b',"data":', state, b"}"))


def decode(value: bytes, log: EventLog) -> EventRecord:
    """Return the event record an envelope carries, decoded as the store's log decodes it."""
    envelope = log.mapper.transcoder.decode(value)
    return log.state_record(
        int(envelope["position"]),
        envelope["subject"],
        int(envelope["version"]),
        envelope["topic"],
        envelope["data"],
    )
