"""Stored events as the read side sees them, and the event store's log they are read from.

An `EventRecord` is built in one place (`record`), whichever feed brought the event: the
store's notification log (`EventLog`) or a Kafka envelope (`workers.kafka.decode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import ApplicationRecorder, Notification

from upare.personal import sealed_by_originator

if TYPE_CHECKING:
    from upare.personal import PersonalMapper


@dataclass(frozen=True)
class EventRecord:
    """One stored event: where it is in the log, whose it is, its class's topic and its data."""

    position: int
    originator_id: str
    version: int
    topic: str  # the event class's topic, e.g. "domain.users:User.Registered"
    timestamp: datetime
    data: dict[str, Any]

    @property
    def type(self) -> str:
        """Return the class's qualified name, e.g. `User.Registered`."""
        return event_type(self.topic)


def event_type(topic: str) -> str:
    """Return the short type of a topic: `domain.users:User.Registered` -> `User.Registered`."""
    return topic.rpartition(":")[2]


def record(
    position: int, originator_id: str, version: int, topic: str, state: dict[str, Any]
) -> EventRecord:
    """Build the record of one event from its decoded stored state."""
    state.pop("originator_topic", None)
    timestamp = state.pop("timestamp")
    return EventRecord(position, originator_id, version, topic, timestamp, state)


class EventLog:
    """The event store's notification log, read in global order."""

    def __init__(self, recorder: ApplicationRecorder, mapper: PersonalMapper) -> None:
        self.recorder = recorder
        self.mapper = mapper

    def head(self) -> int:
        """Return the last position stored (0 for an empty store)."""
        return self.recorder.max_notification_id() or 0

    def notifications(self, after: int, limit: int, stop: int | None = None) -> list[Notification]:
        """Return up to `limit` stored notifications after position `after` (up to `stop`)."""
        return list(
            self.recorder.select_notifications(after, limit, stop=stop, inclusive_of_start=False)
        )

    def read(self, after: int, limit: int, stop: int | None = None) -> list[EventRecord]:
        """Return up to `limit` events after position `after` (up to `stop`), decoded."""
        return [self.decode(notification) for notification in self.page(after, limit, stop)]

    def page(self, after: int, limit: int, stop: int | None = None) -> list[Notification]:
        """Return `notifications(...)`, their people's keys fetched together (one query; only
        for events whose originator's key seals personal data: the others need none, or
        another person's, which `Vault.open` fetches and caches)."""
        page = self.notifications(after, limit, stop)
        owners = {
            str(notification.originator_id)
            for notification in page
            if sealed_by_originator(notification.topic)
        }
        if owners:
            self.mapper.vault.preload(owners)
        return page

    def plain_state(self, notification: Notification) -> bytes:
        """Return a stored state as the transcoder wrote it (undoing encryption, compression)."""
        state = notification.state
        if self.mapper.cipher is not None:
            state = self.mapper.cipher.decrypt(state)
        if self.mapper.compressor is not None:
            state = self.mapper.compressor.decompress(state)
        return state

    def decode(self, notification: Notification, sealed: bool = False) -> EventRecord:
        """Decode one stored notification, in its event's current shape (`PersonalMapper`),
        its personal data opened (or, with `sealed`, left sealed)."""
        return self.state_record(
            notification.id,
            str(notification.originator_id),
            notification.originator_version,
            notification.topic,
            self.mapper.transcoder.decode(self.plain_state(notification)),
            sealed,
        )

    def state_record(
        self,
        position: int,
        originator_id: str,
        version: int,
        topic: str,
        state: dict[str, Any],
        sealed: bool = False,
    ) -> EventRecord:
        """Build the record of a decoded stored state, from the store or a Kafka envelope:
        upcast, its personal data opened (or, with `sealed`, left sealed; None either way
        when its person was erased)."""
        data = self.mapper.read_state(topic, originator_id, state, sealed)
        return record(position, originator_id, version, topic, data)
