"""Queries on calendars, answered from the calendar read model: a user's to-do events, and the
reminders the scheduler should send."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from projections.calendar import CalendarProjection
from projections.database import ReadDB, Reader, Row

EVENTS = CalendarProjection.view("events")
COLUMNS = "id, title, start_at, end_at, remind_at, note, done"


def _event(row: Row) -> dict[str, Any]:
    event_id, title, start, end, remind_at, note, done = row
    return {
        "id": event_id,
        "title": title,
        "start": start,
        "end": end,
        "remind_at": remind_at,
        "note": note,
        "done": bool(done),
    }


def events(
    db: Reader,
    uid: int,
    since: str | None = None,
    until: str | None = None,
    everything: bool = False,
) -> list[dict[str, Any]]:
    """Return a user's to-do events ordered by start (then id): those that overlap
    [since, until) (an event without an end lasts an instant), and only the open ones unless
    `everything`."""
    where: list[str] = ["uid = ?"]
    values: list[Any] = [uid]
    if since is not None:
        where.append("COALESCE(end_at, start_at) >= ?")
        values.append(since)
    if until is not None:
        where.append("start_at < ?")
        values.append(until)
    if not everything:
        where.append("done = 0")
    rows = db.fetchall(
        f"SELECT {COLUMNS} FROM {EVENTS} WHERE {' AND '.join(where)} ORDER BY start_at, id",
        values,
    )
    return [_event(row) for row in rows]


def due_reminders(db: ReadDB, now: str, limit: int) -> list[UUID]:
    """Return the to-do events (aggregate ids) whose reminder is due at `now`, earliest first."""
    rows = db.fetchall(
        f"SELECT todo_id FROM {EVENTS} WHERE due_at <= ? ORDER BY due_at LIMIT ?", (now, limit)
    )
    return [UUID(todo_id) for (todo_id,) in rows]


def next_reminder(db: ReadDB, now: str) -> str | None:
    """Return when the next reminder after `now` falls due, if any is pending."""
    row = db.fetchone(f"SELECT MIN(due_at) FROM {EVENTS} WHERE due_at > ?", (now,))
    return None if row is None else row[0]
