"""The calendar read model: every user's to-do events, and the reminders that are due."""

from __future__ import annotations

from domain.calendar import Todo
from domain.users import User
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord

COLUMNS = {  # a field of domain.calendar.Todo: its column
    "title": "title",
    "start": "start_at",
    "end": "end_at",
    "remind_at": "remind_at",
    "note": "note",
    "done": "done",
}


class CalendarProjection(Projection):
    """One row per to-do event; a deleted one goes. `id` is the global position of its
    `Added` event, the id clients see (a rebuild gives it again). Times are
    `domain.calendar.iso` text, which orders as time; `done` is 1 or 0.

    `reminded` is the `remind_at` whose reminder was sent; `due_at` is the `remind_at` still
    to send (none once sent, done or cleared), so that the scheduler's question "which
    reminders are due?" reads one index of pending reminders, not every past one.

    An erased person's events go (`User.Erased`); a later event of a to-do of theirs changes
    nothing.
    """

    name = "calendar"
    version = 2
    tables = {
        "events": (
            "id BIGINT PRIMARY KEY, todo_id TEXT NOT NULL, uid BIGINT NOT NULL,"
            " title TEXT NOT NULL, start_at TEXT NOT NULL, end_at TEXT, remind_at TEXT,"
            " note TEXT NOT NULL, done INTEGER NOT NULL, reminded TEXT, due_at TEXT,"
            " updated_at TEXT NOT NULL"
        ),
    }
    indexes = {"events": ["todo_id", "uid, start_at, id", "due_at"]}

    @handles(Todo.Added)
    def added(self, tx: Transaction, event: EventRecord) -> None:
        data = event.data
        tx.execute(
            f"INSERT INTO {self.table('events')} (id, todo_id, uid, title, start_at, end_at,"
            " remind_at, note, done, due_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (
                event.position,
                event.originator_id,
                data["uid"],
                data["title"],
                data["start"],
                data["end"],
                data["remind_at"],
                data["note"],
                data["remind_at"],
                event.timestamp.isoformat(),
            ),
        )

    @handles(Todo.Updated)
    def updated(self, tx: Transaction, event: EventRecord) -> None:
        changes = event.data["changes"]
        assignments = ", ".join(f"{COLUMNS[name]} = ?" for name in changes)
        values = [int(value) if name == "done" else value for name, value in changes.items()]
        tx.execute(
            f"UPDATE {self.table('events')} SET {assignments}, updated_at = ? WHERE todo_id = ?",
            (*values, event.timestamp.isoformat(), event.originator_id),
        )
        self._rearm(tx, event)

    @handles(Todo.Deleted)
    def deleted(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(f"DELETE FROM {self.table('events')} WHERE todo_id = ?", (event.originator_id,))

    @handles(Todo.Reminded)
    def reminded(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"UPDATE {self.table('events')} SET reminded = ? WHERE todo_id = ?",
            (event.data["remind_at"], event.originator_id),
        )
        self._rearm(tx, event)

    @handles(User.Erased)
    def erased(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(f"DELETE FROM {self.table('events')} WHERE uid = ?", (event.data["uid"],))

    def _rearm(self, tx: Transaction, event: EventRecord) -> None:
        """Set `due_at` from the row as it now is: its `remind_at`, unless sent or done."""
        tx.execute(
            f"UPDATE {self.table('events')} SET due_at = CASE WHEN done = 0"
            " AND (reminded IS NULL OR reminded <> remind_at) THEN remind_at END"
            " WHERE todo_id = ?",
            (event.originator_id,),
        )
