"""The calendar endpoints (`/api/Calendar/add|update|delete|events`, CONTRACT 7).

Times are taken as ISO 8601 with an offset or as Unix seconds, and answered as ISO 8601 UTC.
In `update`, an empty `end` or `remind_at` clears it; in `add` an empty one is none.
"""

from __future__ import annotations

from typing import Any

import falcon

from api.callers import USER
from api.envelope import respond
from api.params import Param
from api.resource import POSITION, Resource
from commands.calendar import AddTodo, DeleteTodo, UpdateTodo
from domain.calendar import FIELDS, MAX_NOTE, MAX_TITLE
from domain.errors import UpareError
from queries import calendar

CALENDAR = USER.scope("calendar")
ID = {"type": "integer", "minimum": 1, "description": "the event's id"}
TIME = {"type": "string", "format": "date-time"}
EVENT = {
    "type": "object",
    "required": ["id", "title", "start", "end", "remind_at", "note", "done"],
    "properties": {
        "id": ID,
        "title": {"type": "string"},
        "start": TIME,
        "end": {"oneOf": [TIME, {"type": "null"}]},
        "remind_at": {"oneOf": [TIME, {"type": "null"}]},
        "note": {"type": "string"},
        "done": {"type": "boolean"},
    },
}
TIMES = "ISO 8601 with an offset, or Unix seconds"
TITLE = f"1-{MAX_TITLE} characters of one line"
NOTE = f"at most {MAX_NOTE} characters"


def optional_time(value: str | None) -> str | None:
    """Return a time parameter as a command takes it: an empty one is no time."""
    return value or None


class AddEvent(Resource):
    path = "/api/calendar/add"
    summary = "Add a to-do event to the caller's calendar; answer its `id`"
    params = (
        Param("title", required=True, description=TITLE),
        Param("start", "date-time", required=True, description=TIMES),
        Param("end", "date-time", description=f"{TIMES}; not before start"),
        Param("remind_at", "date-time", description=f"{TIMES}: when to remind (inbox)"),
        Param("note", default="", description=NOTE),
    )
    caller = CALENDAR
    codes = (203201,)
    answers = {"id": ID, "position": POSITION}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        command = AddTodo(
            uid=req.context.caller.user(),
            title=params["title"],
            start=params["start"],
            end=optional_time(params["end"]),
            remind_at=optional_time(params["remind_at"]),
            note=params["note"],
        )
        respond(req, resp, self.container.bus.execute(command))


class UpdateEvent(Resource):
    path = "/api/calendar/update"
    summary = "Change some fields of one of the caller's to-do events"
    params = (
        Param("id", "integer", required=True, missing=203301, minimum=1, description="the event"),
        Param("title", description=TITLE),
        Param("start", "date-time", min_length=1, description=TIMES),
        Param("end", "date-time", description=f"{TIMES}; empty: no end"),
        Param("remind_at", "date-time", description=f"{TIMES}; empty: no reminder"),
        Param("note", description=NOTE),
        Param("done", "boolean"),
    )
    caller = CALENDAR
    codes = (404,)
    answers = {"position": POSITION}
    optional = ("position",)  # none when nothing changed

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        changes: dict[str, Any] = {
            name: params[name] for name in FIELDS if params[name] is not None
        }
        for name in ("end", "remind_at"):
            if name in changes:
                changes[name] = optional_time(changes[name])
        command = UpdateTodo(uid=req.context.caller.user(), todo_id=params["id"], changes=changes)
        respond(req, resp, self.container.bus.execute(command))


class DeleteEvent(Resource):
    path = "/api/calendar/delete"
    summary = "Delete one of the caller's to-do events"
    params = (Param("id", "integer", required=True, minimum=1, description="the event"),)
    caller = CALENDAR
    codes = (404,)
    answers = {"position": POSITION}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        command = DeleteTodo(uid=req.context.caller.user(), todo_id=req.context.params["id"])
        respond(req, resp, self.container.bus.execute(command))


class Events(Resource):
    path = "/api/calendar/events"
    summary = (
        "List the caller's to-do events ordered by start: those overlapping [from, to), the"
        " done ones too with `all`"
    )
    params = (
        Param("from", "date-time", description=f"{TIMES}: events ending at or after it"),
        Param("to", "date-time", description=f"{TIMES}: events starting before it"),
        Param("all", "boolean", default=False, description="include the done ones"),
    )
    caller = CALENDAR
    reads = ("calendar",)
    codes = (203101,)
    answers = {"events": {"type": "array", "items": EVENT, "minItems": 1}}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        found = calendar.events(
            req.context.reads,
            req.context.caller.user(),
            optional_time(params["from"]),
            optional_time(params["to"]),
            params["all"],
        )
        if not found:
            raise UpareError(203101)
        respond(req, resp, {"events": found})
