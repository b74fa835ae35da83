"""To-do events in a user's calendar, one aggregate each, and their reminders.

Times are held as ISO 8601 strings in UTC (`iso`), so events carry plain data and compare as
text. Clients know an event by the global position of its `Added` event (the calendar read
model's `id`), as they know messages; its aggregate id is random.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import UpareError, invalid
from domain.text import text_problem

MAX_TITLE = 200
MAX_NOTE = 2000
FIELDS = ("title", "start", "end", "remind_at", "note", "done")  # what `update` may change


def iso(moment: datetime) -> str:
    """Return a moment as the calendar holds it: ISO 8601 in UTC, to the second."""
    if moment.tzinfo is None:
        raise ValueError("a calendar time needs its offset")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def check_title(title: str) -> str:
    """Return the title, trimmed, if it is 1-200 characters of one line."""
    title = title.strip()
    problem = text_problem(title, MAX_TITLE)
    if problem:
        raise invalid(title=problem)
    return title


def check_note(note: str) -> str:
    """Return the note if it is at most 2000 characters (lines and tabs allowed)."""
    problem = text_problem(note.replace("\n", " ").replace("\t", " "), MAX_NOTE, min_length=0)
    if problem:
        raise invalid(note=problem)
    return note


def check_times(start: str, end: str | None) -> None:
    """Refuse an end before the start (100004, naming `end`)."""
    if end is not None and end < start:
        raise invalid(end="must not be before start")


class Todo(Aggregate):
    """One to-do event of one user: what, when, an optional reminder, and whether it is done.

    `reminded` is the `remind_at` whose reminder was sent, so each reminder time is sent once;
    moving `remind_at` arms a new one.
    """

    class Added(Aggregate.Created):
        uid: int
        title: str
        start: str
        end: str | None
        remind_at: str | None
        note: str

    @event(Added)
    def __init__(
        self,
        *,
        uid: int,
        title: str,
        start: str,
        end: str | None,
        remind_at: str | None,
        note: str,
    ) -> None:
        self.uid = uid
        self.title = title
        self.start = start
        self.end = end
        self.remind_at = remind_at
        self.note = note
        self.done = False
        self.deleted = False
        self.reminded: str | None = None

    @classmethod
    def add(
        cls,
        uid: int,
        *,
        title: str,
        start: str,
        end: str | None = None,
        remind_at: str | None = None,
        note: str = "",
    ) -> Todo:
        """Return a new to-do event of `uid`, its fields checked."""
        check_times(start, end)
        return cls(
            uid=uid,
            title=check_title(title),
            start=start,
            end=end,
            remind_at=remind_at,
            note=check_note(note),
        )

    def check_owner(self, uid: int) -> None:
        """404 for anyone but its owner, and for everyone once deleted."""
        if self.uid != uid or self.deleted:
            raise UpareError(404)

    class Updated(Aggregate.Event):
        changes: dict[str, Any]

    def update(self, uid: int, **changes: Any) -> bool:
        """Change some fields (those of FIELDS); return False when nothing changes."""
        self.check_owner(uid)
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise ValueError(f"not fields of a to-do event: {sorted(unknown)}")
        if "title" in changes:
            changes["title"] = check_title(changes["title"])
        if "note" in changes:
            changes["note"] = check_note(changes["note"] or "")
        check_times(changes.get("start", self.start), changes.get("end", self.end))
        changes = {name: value for name, value in changes.items() if getattr(self, name) != value}
        if changes:
            self._updated(changes)
        return bool(changes)

    @event(Updated)
    def _updated(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    class Deleted(Aggregate.Event):
        pass

    def delete(self, uid: int) -> None:
        self.check_owner(uid)
        self._deleted()

    @event(Deleted)
    def _deleted(self) -> None:
        self.deleted = True

    class Reminded(Aggregate.Event):
        remind_at: str

    def due_reminder(self, now: str) -> bool:
        """Tell whether a reminder is due: its time has passed and it was not sent, the event
        is neither done nor deleted."""
        return (
            self.remind_at is not None
            and self.remind_at <= now
            and self.reminded != self.remind_at
            and not (self.done or self.deleted)
        )

    @event(Reminded)
    def remind(self, remind_at: str) -> None:
        self.reminded = remind_at
