"""The inbox endpoint (`/api/User/message`, CONTRACT 5)."""

from __future__ import annotations

from typing import Any

import falcon

from api.callers import USER
from api.envelope import respond
from api.params import Param
from api.resource import POSITION, Resource
from commands.application import Done
from commands.inbox import ReadMessage
from domain.errors import UpareError
from queries import inbox
from queries.freshness import MAX_WAIT_SECONDS, wait_for
from upare.bootstrap import Container

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000  # far past any inbox; keeps the row offset inside 64 bits
COUNT = {"type": "integer", "minimum": 0}
MESSAGE = {
    "type": "object",
    "required": ["id", "text", "error_code", "read", "sent_at"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "text": {"type": "string"},
        "error_code": {"type": "integer", "description": "0, or the code of what failed"},
        "read": {"type": "boolean"},
        "sent_at": {"type": "string", "format": "date-time"},
    },
}


class Messages(Resource):
    path = "/api/user/message"
    summary = (
        "List the caller's messages, newest first, with the unread count; with `id`, also"
        " answer that message as `message`, now marked read"
    )
    params = (
        Param("id", "integer", minimum=1, description="a message to read"),
        Param("page", "integer", default=1, minimum=1, maximum=MAX_PAGE),
        Param("per_page", "integer", default=20, minimum=1, maximum=MAX_PER_PAGE),
    )
    caller = USER.scope("messages")
    reads = ("messages",)
    codes = (404,)
    answers = {
        "messages": {"type": "array", "items": MESSAGE},
        "unread": COUNT,
        "total": COUNT,
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        "message": MESSAGE,
        "position": POSITION,
    }
    optional = ("message", "position")  # with `id`; `position` when it was unread

    def __init__(self, container: Container) -> None:
        self.bus = container.bus
        self.db = container.db
        self.wakeup = container.wakeup

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        uid = req.context.caller.user()
        done, fields = Done(), {}
        if params["id"] is not None:
            done = self.bus.execute(ReadMessage(uid=uid, message_id=params["id"]))
            fields["message"] = self.read_back(resp, uid, params["id"], done.position)
        page = inbox.messages(self.db, uid, params["page"], params["per_page"])
        respond(req, resp, Done(done.position, {**fields, **page}))

    def read_back(
        self, resp: falcon.Response, uid: int, message_id: int, position: int | None
    ) -> dict[str, Any]:
        """Return the message as the inbox shows it once it has seen the read just stored."""
        if position and not wait_for(
            self.db, ["messages"], position, MAX_WAIT_SECONDS, self.wakeup
        ):
            resp.set_header("X-Stale", "true")
        found = inbox.message(self.db, uid, message_id)
        if found is None:  # stored, but the read model has not got it yet
            raise UpareError(404)
        return found
