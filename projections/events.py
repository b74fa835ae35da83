"""Stored events as the read side sees them, and the event store's log they are read from.

An `EventRecord` is built in one place (`record`), whichever feed brought the event: the
store's notification log (`EventLog`) or a Kafka envelope (`workers.kafka.decode`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from eventsourcing.persistence import ApplicationRecorder, InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row

from upare.personal import sealed_by_originator
from upare.vault import KEY_TABLE, TableKeys

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


class Stored(NamedTuple):
    """One stored event as the log's readers take it (the fields of eventsourcing's
    `Notification` they use, its originator's id as text)."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


class Page(NamedTuple):
    """A page of the log as a reader of some of its events takes it (`EventLog.read_some`)."""

    records: list[EventRecord]  # the events wanted, decoded
    last: int  # the position of the page's last event, wanted or not (`after` when empty)
    size: int  # how many events the page held, wanted or not


class EventLog:
    """The event store's notification log, read in global order.

    On PostgreSQL and SQLite a page is read by one query of our own: only the columns a reader
    needs, the originator's id as text, tuples rather than dicts, prepared; on PostgreSQL with
    each event's originator's wrapped key beside it (looked up in the key table), so a page
    costs one round trip and no array parameter. Like eventsourcing's `select_notifications`
    it reads the positions in a range in order without locking the table (the readers' own
    checks of the positions they were given keep them gap-safe, as they did).

    The key is looked up by a subquery of each row, not a join: PostgreSQL plans a page of
    10,000 joined as a parallel query, two more backends and a merge of their rows for
    lookups one backend does sooner, the more so beside a rebuild's writer on a server of two
    cores (a page of the 1M log in 89 ms as read, against 75 with the subquery, which is
    planned on one backend; the 1M rebuild 26-27 s against 29-30).
    """

    def __init__(self, recorder: ApplicationRecorder, mapper: PersonalMapper) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.keyed = isinstance(recorder, PostgresApplicationRecorder) and isinstance(
            mapper.vault.keys, TableKeys
        )

    def head(self) -> int:
        """Return the last position stored (0 for an empty store)."""
        return self.recorder.max_notification_id() or 0

    def notifications(self, after: int, limit: int, stop: int | None = None) -> list[Stored]:
        """Return up to `limit` stored events after position `after` (up to `stop`)."""
        if isinstance(self.recorder, PostgresApplicationRecorder):
            return [Stored._make(row[:5]) for row in self._postgres(after, limit, stop, False)]
        if isinstance(self.recorder, SQLiteApplicationRecorder):
            return self._sqlite(after, limit, stop)
        return [
            Stored(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in self.recorder.select_notifications(
                after, limit, stop=stop, inclusive_of_start=False
            )
        ]

    def read(self, after: int, limit: int, stop: int | None = None) -> list[EventRecord]:
        """Return up to `limit` events after position `after` (up to `stop`), decoded."""
        return [self.decode(notification) for notification in self.page(after, limit, stop)]

    def read_some(
        self, after: int, limit: int, stop: int | None, wanted: Callable[[str], bool]
    ) -> Page:
        """Return a page of up to `limit` events after `after` (up to `stop`), only the events
        whose topic is `wanted` decoded: a rebuild of the friends lists decodes none of the
        accounts' events (a fifth of the social benchmark's log, the costliest to open)."""
        page = self.page(after, limit, stop)
        return Page(
            [self.decode(stored) for stored in page if wanted(stored.topic)],
            page[-1].id if page else after,
            len(page),
        )

    def page(self, after: int, limit: int, stop: int | None = None) -> list[Stored]:
        """Return `notifications(...)`, their people's keys fetched together (in the same query
        on PostgreSQL, else in one more; only for events whose originator's key seals personal
        data: the others need none, or another person's, which `Vault.open` fetches and
        caches)."""
        if self.keyed:
            page, wrapped = [], {}
            for row in self._postgres(after, limit, stop, True):
                page.append(Stored._make(row[:5]))
                if row[5] is not None and sealed_by_originator(row[3]):
                    wrapped[row[1]] = row[5]
            self.mapper.vault.offer(wrapped)
            return page
        page = self.notifications(after, limit, stop)
        owners = {
            str(notification.originator_id)
            for notification in page
            if sealed_by_originator(notification.topic)
        }
        if owners:
            self.mapper.vault.preload(owners)
        return page

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _postgres(
        self, after: int, limit: int, stop: int | None, keyed: bool
    ) -> list[tuple[Any, ...]]:
        """Read a page on PostgreSQL (retried as eventsourcing retries its reads); with
        `keyed`, each row with its originator's wrapped key last (None when they have none)."""
        recorder: Any = self.recorder
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        columns = "e.notification_id, e.originator_id::text, e.originator_version, e.topic, e.state"
        if keyed:  # a subquery, not a join: see the class's docstring
            key = f"SELECT k.wrapped FROM {KEY_TABLE} k WHERE k.owner = e.originator_id::text"
            columns += f", ({key})"
        until = "" if stop is None else " AND e.notification_id <= %s"
        params = (after,) if stop is None else (after, stop)
        query = (
            f"SELECT {columns} FROM {table} e WHERE e.notification_id > %s{until}"
            " ORDER BY e.notification_id LIMIT %s"
        )
        with (
            recorder.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row) as cursor,
        ):
            cursor.execute(query, (*params, limit), prepare=True)
            return cursor.fetchall()

    def _sqlite(self, after: int, limit: int, stop: int | None) -> list[Stored]:
        """Read a page on SQLite (the originator's id is stored as 32 hex digits)."""
        recorder: Any = self.recorder
        until = "" if stop is None else " AND rowid <= ?"
        params = (after,) if stop is None else (after, stop)
        query = (
            "SELECT rowid, originator_id, originator_version, topic, state"
            f" FROM {recorder.events_table_name} WHERE rowid > ?{until} ORDER BY rowid LIMIT ?"
        )
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(query, (*params, limit))
            return [
                Stored(row[0], _dashed(row[1]), row[2], row[3], row[4]) for row in cursor.fetchall()
            ]

    def plain_state(self, notification: Stored) -> bytes:
        """Return a stored state as the transcoder wrote it (undoing encryption, compression)."""
        state = notification.state
        if self.mapper.cipher is not None:
            state = self.mapper.cipher.decrypt(state)
        if self.mapper.compressor is not None:
            state = self.mapper.compressor.decompress(state)
        return state

    def decode(self, notification: Stored, sealed: bool = False) -> EventRecord:
        """Decode one stored notification, in its event's current shape (`PersonalMapper`),
        its personal data opened (or, with `sealed`, left sealed)."""
        return self.state_record(
            notification.id,
            notification.originator_id,
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


def _dashed(originator_id: str) -> str:
    """Return an id SQLite stores as 32 hex digits in `str(UUID)`'s form (as text already: kept)."""
    if len(originator_id) != 32:
        return originator_id
    i = originator_id
    return f"{i[:8]}-{i[8:12]}-{i[12:16]}-{i[16:20]}-{i[20:]}"
