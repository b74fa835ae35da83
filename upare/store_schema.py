"""The event store's schema version: the marker every process checks at start, and the one-off
upgrade of a store written before personal data was sealed (`upare store upgrade`).

A store the v1 code wrote holds claims at unkeyed ids (uuid5 of the value: a keyed lookup
misses them, so a second account could take the same email) and personal data in plain text
in its rows (which deleting a key cannot erase). A store is marked `CURRENT` in `store_schema`
(a one-row table of the event store's database) when it is created empty, or by the upgrade;
a store with events and no mark is refused at start (`OutdatedStore`): one indexed read, however
many events it holds.

The upgrade is idempotent (a run cut short is finished by running it again):
1. every v1 claim still held is claimed again at its keyed id and released at its old one,
   one transaction per owner (a value someone else holds at its keyed id is reported, not
   taken; an erased owner's claims are only released);
2. every row of an event whose class is newer than the row (`class_version`) is rewritten in
   place into its current, sealed form: same position, same originator version. This is the
   one place the store's append-only rule yields, for the law: plain personal data must be
   erasable, and only a rewrite makes it so. The people erased before are erased again first
   (a tombstone for their key), so their rewritten rows are stored unreadable;
3. the store is marked.
Copies of v1 rows outside the store (Kafka, old exports) are beyond its reach.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from commands.application import WriteApplication
from commands.users import claim
from domain.errors import UpareError
from domain.users import Index, User
from projections.database import ReadDB
from projections.events import EventLog, Stored
from upare.vault import TableKeys

TABLE = "store_schema"
CURRENT = 2  # user events seal their personal data; claims have keyed ids
PAGE = 1000
CLAIMED, ERASED = get_topic(Index.Claimed), get_topic(User.Erased)
Report = Callable[[int, int], None]  # (positions done, positions in all)


class OutdatedStore(SystemExit):
    """The store holds events of an older schema. A SystemExit, so that a command refusing to
    start says just this (no traceback) and exits 1."""

    def __init__(self) -> None:
        super().__init__(
            "error: the event store holds events written before personal data was sealed;"
            " run `upare store upgrade` first"
        )


def _db(app: WriteApplication) -> ReadDB | None:
    """Return the event store's database as the vault reaches it (None: an in-memory store)."""
    keys = app.vault.keys
    return keys.db if isinstance(keys, TableKeys) else None


def version(db: ReadDB) -> int | None:
    """Return the schema version the store is marked with (None: unmarked)."""
    row = db.fetchone(f"SELECT version FROM {TABLE} WHERE name = 'events'")
    return None if row is None else int(row[0])


def mark(db: ReadDB) -> None:
    """Mark the store as holding only events of the current schema."""
    with db.transaction() as tx:
        tx.execute(
            f"INSERT INTO {TABLE} (name, version) VALUES ('events', ?)"
            " ON CONFLICT (name) DO UPDATE SET version = excluded.version",
            (CURRENT,),
        )


def install(app: WriteApplication, upgrading: bool = False) -> None:
    """Create the marker's table; mark an empty store; refuse an unmarked store with events
    (`OutdatedStore`) unless `upgrading`."""
    db = _db(app)
    if db is None:
        return
    with db.transaction() as tx:
        tx.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
    if version(db) == CURRENT:
        return
    if not app.recorder.max_notification_id():
        mark(db)
    elif not upgrading:
        raise OutdatedStore


@dataclass
class Upgraded:
    """What an upgrade did: claims moved to keyed ids, rows rewritten, values not moved."""

    claims: int = 0
    rows: int = 0
    conflicts: list[str] = field(default_factory=list)  # "kind of owner": held by another


def upgrade(app: WriteApplication, log: EventLog, report: Report) -> Upgraded:
    """Upgrade a store to the current schema (the module's steps 1-3); mark it."""
    head = log.head()
    done = Upgraded()
    old_claims: dict[UUID, tuple[str, str]] = {}  # old id -> (kind, value)
    erased: list[UUID] = []
    for page in _pages(log, head):
        for notification in page:
            if notification.topic == CLAIMED:
                state = _state(log, notification)
                if "value" in state:
                    old_claims[_id(notification)] = (state["kind"], state["value"])
            elif notification.topic == ERASED:
                erased.append(_id(notification))
        report(page[-1].id, 2 * head)
    for owner in erased:
        app.vault.erase(str(owner))
    _rekey(app, old_claims, set(erased), done)
    for page in _pages(log, head):
        done.rows += _rewrite(app, log, page)
        report(head + page[-1].id, 2 * head)
    db = _db(app)
    if db is not None:
        mark(db)
    return done


def _pages(log: EventLog, head: int) -> Iterator[list[Stored]]:
    after = 0
    while after < head:
        page = log.notifications(after, PAGE, stop=head)
        if not page:
            return
        yield page
        after = page[-1].id


def _id(notification: Stored) -> UUID:
    return UUID(str(notification.originator_id))


def _state(log: EventLog, notification: Stored) -> dict[str, Any]:
    state: dict[str, Any] = log.mapper.transcoder.decode(log.plain_state(notification))
    return state


def _rekey(
    app: WriteApplication,
    old_claims: dict[UUID, tuple[str, str]],
    erased: set[UUID],
    done: Upgraded,
) -> None:
    """Move the claims still held at old ids to keyed ids: one save per owner."""
    by_owner: dict[UUID, list[tuple[Index, str, str]]] = {}
    for old_id, (kind, value) in old_claims.items():
        old: Index = app.repository.get(old_id)
        if old.owner is not None:
            by_owner.setdefault(old.owner, []).append((old, kind, value))
    for owner, claims in by_owner.items():
        changed: list[Index] = []
        for old, kind, value in claims:
            if owner not in erased:
                try:
                    changed.append(claim(app, kind, value, owner, 202003))  # caught below
                except UpareError:
                    done.conflicts.append(f"{kind} of {owner}")
                    continue
            old.release()
            changed.append(old)
            done.claims += 1
        if changed:
            app.save(*changed)


def _rewrite(app: WriteApplication, log: EventLog, page: list[Stored]) -> int:
    """Rewrite the page's rows of older class versions in place; return how many."""
    rows = []
    for notification in page:
        current = getattr(resolve_topic(notification.topic), "class_version", 1)
        if _state(log, notification).get("class_version", 1) < current:
            stored = StoredEvent(
                originator_id=_id(notification),
                originator_version=notification.originator_version,
                topic=notification.topic,
                state=notification.state,
            )
            new = app.mapper.to_stored_event(app.mapper.to_domain_event(stored))
            rows.append((new.state, _id(notification), notification.originator_version))
    if rows:
        _update(app, rows)
    return len(rows)


def _update(app: WriteApplication, rows: list[tuple[bytes, UUID, int]]) -> None:
    """Replace these rows' states in one transaction of the store's own recorder."""
    recorder: Any = app.recorder
    if recorder.datastore.__class__.__module__ == "eventsourcing.postgres":  # group commit's too
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        sql = f"UPDATE {table} SET state = %s WHERE originator_id = %s AND originator_version = %s"
        params: list[tuple[bytes, UUID | str, int]] = list(rows)
    else:
        table = recorder.events_table_name
        sql = f"UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?"
        params = [(state, oid.hex, version) for state, oid, version in rows]
    with recorder.datastore.transaction(commit=True) as cursor:
        for row in params:
            cursor.execute(sql, row)
