"""The event store's SQLite recorder: eventsourcing's, with a select of an aggregate's topics."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from commands.application import Topics


class SqliteRecorder(Topics, SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, reading topics without the state."""

    def select_topics(self, originator_id: UUID) -> list[str]:
        query = (
            f"SELECT topic FROM {self.events_table_name}"
            " WHERE originator_id = ? ORDER BY originator_version"
        )
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(query, (originator_id.hex,))
            return [row[0] for row in cursor.fetchall()]


SQLITE = get_topic(SqliteRecorder)  # eventsourcing's APPLICATION_RECORDER_TOPIC for it
