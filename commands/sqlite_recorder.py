"""The event store's SQLite recorder: eventsourcing's, with a select of an aggregate's events
and another's topics."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from commands.application import Topics


class SqliteRecorder(Topics, SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, reading an aggregate's events and
    another's topics (without their state) at once."""

    def select_events_and_topics(
        self, originator_id: UUID, topics_of: UUID
    ) -> tuple[list[StoredEvent], list[str]]:
        query = (
            "SELECT originator_id, originator_version, topic,"
            f" CASE WHEN originator_id = ? THEN state END FROM {self.events_table_name}"
            " WHERE originator_id IN (?, ?) ORDER BY originator_id, originator_version"
        )
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(query, (originator_id.hex, originator_id.hex, topics_of.hex))
            rows = cursor.fetchall()
        events = [
            StoredEvent(originator_id, row[1], row[2], row[3])
            for row in rows
            if row[0] == originator_id.hex
        ]
        return events, [row[2] for row in rows if row[0] == topics_of.hex]


SQLITE = get_topic(SqliteRecorder)  # eventsourcing's APPLICATION_RECORDER_TOPIC for it
