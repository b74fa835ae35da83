"""Group commit: the event store's PostgreSQL recorder, committing the saves of concurrent
commands together in one transaction.

eventsourcing's recorder takes the table's EXCLUSIVE lock for every save, so that
notification ids are committed in the order they are issued and a reader tailing the log never
passes a gap that a slower transaction fills later. That lock makes one commit (and its WAL
flush) at a time the ceiling of the whole store. Here a save waits its turn as a follower
while another thread (the leader) commits: the next leader then writes every save that queued
up meanwhile under one lock, one INSERT and one NOTIFY, and each caller gets its own
notification ids. The lock's guarantee is kept (one transaction issues and commits them all).

A save that meets a stored event of its aggregate version (another writer came first) fails
alone with the IntegrityError it would have met by itself (the bus reloads and reruns its
command); the batch is written again without it, so one save's events stay all or nothing.
Two saves of one batch writing the same aggregate version do not share a transaction: the
later one waits for the next.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import get_topic, retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from commands.application import Topics
from upare.connections import check_connection

Key = tuple[str, int]  # an event's (originator id, originator version)


class Save:
    """One caller's events, written all together or not at all, and how that went."""

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.keys: list[Key] = [(str(e.originator_id), e.originator_version) for e in events]
        self.ids: list[int] = []
        self.error: Exception | None = None
        self.done = False

    def succeed(self, ids: list[int]) -> None:
        self.ids, self.done = ids, True

    def fail(self, error: Exception) -> None:
        self.error, self.done = error, True


class Conflicts(Exception):  # not an error to anyone: its batch is written again
    """Some saves of a batch met stored events of their versions: roll the batch back."""

    def __init__(self, saves: list[Save]) -> None:
        super().__init__(len(saves))
        self.saves = saves


class GroupCommitRecorder(Topics, PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL application recorder, its inserts committed in groups.

    Its statements are rendered to text once: eventsourcing's are composed SQL, which psycopg
    renders again on every execute (a fifth of the CPU of a command's reads and write)."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        # eventsourcing's pre-ping (POSTGRES_PRE_PING) asks the server on every checkout, a
        # round trip each (29% of a friendmake's profile): ask only when the socket has news.
        # psycopg_pool takes its check only as the constructor's argument, which eventsourcing
        # fixes, hence the attribute.
        datastore.pool._check = check_connection
        schema = Identifier(self.datastore.schema)
        self.table = SQL("{0}.{1}").format(schema, Identifier(self.events_table_name)).as_string()
        row = SQL("{0}.{1}").format(schema, Identifier(self.stored_event_type_name)).as_string()
        self.insert_new_statement = (
            f"INSERT INTO {self.table} (originator_id, originator_version, topic, state)"
            f" SELECT originator_id, originator_version, topic, state FROM unnest(%s::{row}[])"
            " ON CONFLICT DO NOTHING RETURNING originator_id, originator_version, notification_id"
        )
        # BEGIN, the table lock (with its lock_timeout) and the NOTIFY in one simple query, one
        # round trip: psycopg's pipeline mode spent more CPU than the round trips it saved
        notify = SQL("NOTIFY {0}").format(Identifier(self.channel_name))
        statements = [SQL("BEGIN"), *self.lock_table_statements, notify]
        self.begin_lock_and_notify = SQL("; ").join(statements).as_string()
        self.pending: list[Save] = []  # saves waiting for a leader
        self.pending_lock = threading.Lock()
        self.commit_lock = threading.Lock()  # held by the leader while it commits

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """eventsourcing's select of an aggregate's events, by a statement of plain text (its
        own is composed, and so rendered again on every call) read as tuples."""
        where = "originator_id = %s"
        where += "" if gt is None else " AND originator_version > %s"
        where += "" if lte is None else " AND originator_version <= %s"
        order = " DESC" if desc else ""
        bound = "" if limit is None else " LIMIT %s"
        params = [value for value in (originator_id, gt, lte, limit) if value is not None]
        query = (
            f"SELECT originator_id, originator_version, topic, state FROM {self.table}"
            f" WHERE {where} ORDER BY originator_version{order}{bound}"
        )
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(query, params, prepare=True)
            return [StoredEvent(row[0], row[1], row[2], bytes(row[3])) for row in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events_and_topics(
        self, originator_id: UUID, topics_of: UUID
    ) -> tuple[list[StoredEvent], list[str]]:
        """The events of one aggregate and the topics alone of another's, by one select
        (their states not read)."""
        query = (
            "SELECT originator_id, originator_version, topic,"
            f" CASE WHEN originator_id = %(events)s THEN state END FROM {self.table}"
            " WHERE originator_id IN (%(events)s, %(topics)s)"
            " ORDER BY originator_id, originator_version"
        )
        params = {"events": originator_id, "topics": topics_of}
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(query, params, prepare=True)
            rows = curs.fetchall()
        events = [
            StoredEvent(row[0], row[1], row[2], bytes(row[3]))
            for row in rows
            if row[0] == originator_id
        ]
        return events, [row[2] for row in rows if row[0] == topics_of]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Queue these events as one save, wait until a leader (maybe this caller) wrote the
        batch it is in, and answer their notification ids (or raise what failed it)."""
        if not stored_events:
            return []
        save = Save(stored_events)
        with self.pending_lock:
            self.pending.append(save)
        while not save.done:
            with self.commit_lock:
                if not save.done:
                    self.commit(self.take_batch())
        if save.error is not None:
            raise save.error
        return save.ids

    def take_batch(self) -> list[Save]:
        """Take the pending saves, leaving one that writes an aggregate version an earlier one
        of the batch writes too (it goes in the next batch)."""
        batch: list[Save] = []
        keys: set[Key] = set()
        with self.pending_lock:
            waiting, self.pending = self.pending, []
            for save in waiting:
                if keys.isdisjoint(save.keys):
                    batch.append(save)
                    keys.update(save.keys)
                else:
                    self.pending.append(save)
        return batch

    def commit(self, batch: list[Save]) -> None:
        """Write the batch in one transaction, again without the saves that conflict, until
        it commits. Every save of it is done after, whatever happens (its caller may be
        waiting): a failure of the database fails them all."""
        try:
            while batch:
                try:
                    ids = self.write(batch)
                except Conflicts as conflicts:
                    for save in conflicts.saves:
                        save.fail(IntegrityError(f"{save.keys} were stored already"))
                    batch = [save for save in batch if not save.done]
                    continue
                for save in batch:
                    save.succeed([ids[key] for key in save.keys])
                return
        except Exception as error:  # the database failed: each caller raises it
            for save in batch:
                if not save.done:
                    save.fail(error)
        finally:
            for save in batch:
                if not save.done:
                    save.fail(PersistenceError("the group commit was interrupted"))

    def write(self, batch: list[Save]) -> dict[Key, int]:
        """Insert the batch under the table lock and answer each event's notification id;
        raise Conflicts (rolling back) if some events were stored already."""
        events = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for save in batch
            for e in save.events
        ]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            try:  # the transaction the first statement begins (psycopg's sends BEGIN alone)
                curs.execute(self.begin_lock_and_notify)
                curs.execute(self.insert_new_statement, (events,), prepare=True)
                ids = {
                    (str(row["originator_id"]), row["originator_version"]): row["notification_id"]
                    for row in curs.fetchall()
                }
                if len(ids) < len(events):
                    raise Conflicts([save for save in batch if not ids.keys() >= set(save.keys)])
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        return ids


GROUPED = get_topic(GroupCommitRecorder)  # eventsourcing's APPLICATION_RECORDER_TOPIC for it
