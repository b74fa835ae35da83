"""Turn the store's notifications into the read side's event records."""

from __future__ import annotations

from collections.abc import Iterable

from eventsourcing.persistence import Notification, Transcoder

from projections.base import EventRecord


def event_type(topic: str) -> str:
    """Return the short type of a topic: `domain.users:User.Registered` -> `User.Registered`."""
    return topic.rpartition(":")[2]


def to_record(notification: Notification, transcoder: Transcoder) -> EventRecord:
    """Decode one stored notification."""
    data = transcoder.decode(notification.state)
    data.pop("originator_topic", None)
    return EventRecord(
        position=notification.id,
        originator_id=str(notification.originator_id),
        version=notification.originator_version,
        type=event_type(notification.topic),
        timestamp=data.pop("timestamp"),
        data=data,
    )


def to_records(notifications: Iterable[Notification], transcoder: Transcoder) -> list[EventRecord]:
    """Decode stored notifications, in order."""
    return [to_record(notification, transcoder) for notification in notifications]
