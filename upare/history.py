"""The event store's history as plain records, for exports, time travel and notebooks.

`events(...)` reads the store's notification log in global order, in pages of `PAGE`
notifications straight from the recorder, and decodes each event as the read side does
(`EventLog.decode`: the stored state's JSON upcast by the events' `upcast_vX_vY`, its personal
data opened, None once its person was erased), so its data reads as today's code reads it,
without building an event object. Secrets (password hashes, digests of client secrets, codes
and tokens) read as `***`, here and in an aggregate's state (`state_of`). Memory stays flat
whatever the length of the log: one page is held at a time.

In a notebook, with the same `UPARE_*` settings as the server (none: the embedded default)::

    import pandas as pd
    from upare.history import events

    frame = pd.DataFrame(event.row() for event in events(types=["User.Registered"]))
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from projections.events import EventLog, event_type
from upare.settings import Settings

if TYPE_CHECKING:
    from commands.application import WriteApplication

PAGE = 1000  # notifications read from the recorder at once
SKIPPED = ("originator_id", "originator_version")
REDACTED = "***"  # what a secret reads as
Progress = Callable[[int, int], None]  # (position read up to, the last position to read)


@dataclass(frozen=True)
class HistoryEvent:
    """One stored event as an analyst sees it."""

    position: int  # in the store's log, from 1; gaps are rolled-back inserts
    type: str  # the event class's qualified name, e.g. "User.Registered" (not its module)
    aggregate_id: str
    version: int  # of its aggregate, from 1
    timestamp: datetime  # UTC
    data: dict[str, Any]  # JSON-able: ids and times as strings

    def row(self) -> dict[str, Any]:
        """Return the event as one flat dict (its timestamp still a datetime)."""
        return {
            "position": self.position,
            "type": self.type,
            "aggregate_id": self.aggregate_id,
            "version": self.version,
            "timestamp": self.timestamp,
            "data": self.data,
        }

    def json(self) -> bytes:
        """Return the event as one line of JSON, UTF-8 (its timestamp in ISO 8601, UTC)."""
        return orjson.dumps(self.row())  # its timestamp as isoformat() writes it


def events(
    source: WriteApplication | Settings | None = None,
    *,
    types: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    aggregate: UUID | str | None = None,
    after_position: int = 0,
    upto: int | None = None,
    progress: Progress | None = None,
    sealed: bool = False,
) -> Iterator[HistoryEvent]:
    """Yield the stored events in the order of the log, filtered.

    `source` is the application to read, or the settings to open one with (default: the
    `UPARE_*` environment). `types` are class names (`User.Registered`) or full topics;
    `since <= timestamp < until` (naive times are UTC); `aggregate` is an aggregate's id;
    only positions after `after_position` and up to `upto` (default: the last one stored when
    the reading starts) are read. `progress` is told how far the reading got after each page.
    Personal data (`data["personal"]`) is opened, or with `sealed` left as the store holds it
    (ciphertext), as exports write it; None either way once its person was erased.
    """
    if source is None or isinstance(source, Settings):
        from upare.store import build_app

        app = build_app(source or Settings.from_env(), create=False)
        try:
            yield from events(
                app,
                types=types,
                since=since,
                until=until,
                aggregate=aggregate,
                after_position=after_position,
                upto=upto,
                progress=progress,
                sealed=sealed,
            )
        finally:
            app.close()
        return
    log = EventLog(source.recorder, source.mapper)
    last = log.head() if upto is None else upto
    wanted = set(types)
    owner = None if aggregate is None else str(UUID(str(aggregate)))
    since, until = utc(since), utc(until)
    position = after_position
    while position < last:
        page = log.page(position, PAGE, stop=last)
        if not page:
            break
        for notification in page:
            if wanted and not {notification.topic, event_type(notification.topic)} & wanted:
                continue
            if owner is not None and str(notification.originator_id) != owner:
                continue
            event = log.decode(notification, sealed)
            timestamp = event.timestamp.astimezone(UTC)
            if (since and timestamp < since) or (until and timestamp >= until):
                continue
            yield HistoryEvent(
                event.position,
                event.type,
                event.originator_id,
                event.version,
                timestamp,
                {key: plain(value, key) for key, value in event.data.items() if key not in SKIPPED},
            )
        position = page[-1].id
        if progress is not None:
            progress(position, last)


def state_of(app: Application[Any], aggregate_id: UUID, version: int) -> dict[str, Any] | None:
    """Return an aggregate's state at one of its versions (None if it never had it), rebuilt
    by the repository from its events up to that version."""
    try:
        aggregate: Aggregate = app.repository.get(aggregate_id, version=version)
    except AggregateNotFoundError:
        return None
    if aggregate.version != version:
        return None
    return {
        "id": str(aggregate.id),
        "type": type(aggregate).__qualname__,
        "version": aggregate.version,
        "created_on": plain(aggregate.created_on),
        "modified_on": plain(aggregate.modified_on),
        "state": {
            key: plain(value, key)
            for key, value in vars(aggregate).items()
            if not key.startswith("_")
        },
    }


def utc(moment: datetime | None) -> datetime | None:
    """Return a time in UTC, taking a naive one as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def secret(name: str) -> bool:
    """Tell whether a field holds a secret: a password's hash, the digest of a client secret,
    a code or a token (CONTRACT 11: only their hashes are stored, and those are not shown)."""
    return name == "password_hash" or name.endswith("_digest")


def plain(value: Any, name: str = "") -> Any:
    """Return the value of field `name` of an event or aggregate as JSON can hold it, its
    secrets (at any depth) as `REDACTED`."""
    if value is None:
        return None
    if secret(name):
        return REDACTED
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(key): plain(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)  # UUID, Decimal, and any other value the transcoder knows
