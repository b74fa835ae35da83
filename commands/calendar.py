"""Commands on calendars: add, update and delete to-do events, and send a reminder that is due."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from commands.application import Done, WriteApplication
from commands.inbox import message
from domain.calendar import Todo, iso
from domain.errors import UpareError

REMINDER = "Reminder: {title} starts at {start}"


def find_todo(app: WriteApplication, uid: int, todo_id: int) -> Todo:
    """Return the caller's to-do event with this id (the position of its `Added` event).

    404 when there is none, it was deleted, or it is someone else's: a client cannot tell which.
    """
    found = app.created_at(Todo.Added, todo_id)
    if not isinstance(found, Todo):
        raise UpareError(404)
    found.check_owner(uid)
    return found


@dataclass(frozen=True, kw_only=True)
class AddTodo:
    uid: int
    title: str
    start: str  # times as domain.calendar.iso gives them
    end: str | None = None
    remind_at: str | None = None
    note: str = ""


def add_todo(command: AddTodo, *, app: WriteApplication) -> Done:
    """Store a new to-do event; answer its `id`, the position of its `Added` event."""
    todo = Todo.add(
        command.uid,
        title=command.title,
        start=command.start,
        end=command.end,
        remind_at=command.remind_at,
        note=command.note,
    )
    done = app.record(todo)
    return Done(done.position, {"id": done.position})


@dataclass(frozen=True, kw_only=True)
class UpdateTodo:
    uid: int
    todo_id: int
    changes: dict[str, Any] = field(default_factory=dict)  # of domain.calendar.FIELDS; None clears


def update_todo(command: UpdateTodo, *, app: WriteApplication) -> Done:
    """Change some fields of the caller's to-do event (nothing stored when nothing changes)."""
    todo = find_todo(app, command.uid, command.todo_id)
    if not todo.update(command.uid, **command.changes):
        return Done()
    return app.record(todo)


@dataclass(frozen=True, kw_only=True)
class DeleteTodo:
    uid: int
    todo_id: int


def delete_todo(command: DeleteTodo, *, app: WriteApplication) -> Done:
    """Delete the caller's to-do event; it leaves the calendar and sends no more reminders."""
    todo = find_todo(app, command.uid, command.todo_id)
    todo.delete(command.uid)
    return app.record(todo)


@dataclass(frozen=True, kw_only=True)
class SendReminder:
    todo_id: UUID  # the aggregate, as the calendar read model names it


def send_reminder(
    command: SendReminder, *, app: WriteApplication, clock: Callable[[], datetime]
) -> Done:
    """Send the to-do event's reminder to its owner's inbox, if the event says it is due.

    The read model only proposes: the aggregate decides (`Todo.due_reminder`), and `Reminded`
    is saved with the inbox message in one transaction. Two schedulers sending the same
    reminder save the same version; the loser's rerun finds it sent and stores nothing. So
    each `remind_at` is sent once, across restarts and however many schedulers run.
    """
    todo: Todo = app.repository.get(command.todo_id)
    if todo.remind_at is None or not todo.due_reminder(iso(clock())):
        return Done()
    todo.remind(todo.remind_at)
    text = REMINDER.format(title=todo.title, start=todo.start)
    return app.record(todo, message(todo.uid, text))
