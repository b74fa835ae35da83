"""Friends endpoints (CONTRACT section 8): list, make, delete, recommend."""

from __future__ import annotations

from typing import Any

import falcon

from api.callers import USER
from api.envelope import refuse, respond
from api.params import Param
from api.resource import POSITION, Resource
from api.users import UID
from commands.application import Done
from commands.friends import EndFriendship, MakeFriend
from domain.errors import UpareError
from queries import friends
from upare.bootstrap import Container

MAX_WAIT = 10  # seconds friendmake may wait for the notification's outcome
FID = Param("fid", "integer", required=True, description="the other user's uid")
NOTIFIED = {
    "enum": [True, False, "pending"],
    "description": "whether the friend was notified of the latest making (pending: not yet)",
}
AVATAR = {"type": ["object", "null"], "additionalProperties": {"type": "string"}}
FRIEND = {
    "type": "object",
    "required": ["uid", "nickname", "avatar", "since", "notified"],
    "properties": {
        "uid": UID,
        "nickname": {"type": "string"},
        "avatar": AVATAR,
        "since": {"type": "string", "format": "date-time"},
        "notified": NOTIFIED,
    },
}
RECOMMENDED = {
    "type": "object",
    "required": ["uid", "nickname", "avatar", "mutual"],
    "properties": {
        "uid": UID,
        "nickname": {"type": "string"},
        "avatar": AVATAR,
        "mutual": {"type": "integer", "minimum": 1, "description": "friends in common"},
    },
}


class Friends(Resource):
    path = "/api/user/friends"
    summary = "List the caller's friends by uid, with since when and whether each was notified"
    caller = USER.scope("friends")
    reads = ("friends", "users")
    codes = (204101,)
    answers = {"friends": {"type": "array", "items": FRIEND, "minItems": 1}}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        found = friends.friends(req.context.reads, req.context.caller.user())
        if not found:
            raise UpareError(204101)
        respond(req, resp, {"friends": found})


class FriendMake(Resource):
    path = "/api/user/friendmake"
    summary = (
        "Make `fid` the caller's friend (mutual at once); with `wait`, wait that many seconds"
        " at most for the friend's notification, and answer 204104 when it failed"
    )
    params = (
        FID,
        Param(
            "wait",
            "integer",
            default=0,
            minimum=0,
            maximum=MAX_WAIT,
            description="seconds to wait for the notification's outcome",
        ),
    )
    # no `reads`: a command does not wait for the caller's earlier writes to be projected
    # (CONTRACT 10 is the queries'); with `wait` it waits for its own round's outcome
    caller = USER.scope("friends")
    codes = (202001, 204102, 204104)  # 204104 carries `fid` and `position`: the friend is made
    answers = {"fid": UID, "notified": NOTIFIED, "position": POSITION}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus
        self.db = container.db
        self.wakeup = container.wakeup

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params, uid = req.context.params, req.context.caller.user()
        fid = params["fid"]
        done = self.bus.execute(MakeFriend(uid=uid, fid=fid))
        notified = (  # without `wait`, pending: the round was recorded just now
            friends.wait_for_outcome(
                self.db, uid, fid, done.fields["round"], params["wait"], self.wakeup
            )
            if params["wait"]
            else None
        )
        answer: dict[str, Any] = {"fid": fid, "notified": friends.NOTIFIED[notified]}
        if notified is False:  # the friendship stands: the caller still sees it (its write)
            req.context.written = done.position
            refuse(req, resp, UpareError(204104, fields={**answer, "position": done.position}))
            return
        respond(req, resp, Done(done.position, answer))


class FriendDel(Resource):
    path = "/api/user/frienddel"
    summary = "End the caller's friendship with `fid`, for both of them"
    params = (FID,)
    caller = USER.scope("friends")
    codes = (202001, 204103)
    answers = {"position": POSITION}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        uid = req.context.caller.user()
        respond(req, resp, self.bus.execute(EndFriendship(uid=uid, fid=req.context.params["fid"])))


class FriendsRecommend(Resource):
    path = "/api/user/friendsrecommend"
    summary = (
        "Recommend friends of the caller's friends who are not friends yet, most friends in"
        " common (`mutual`) first, then by uid"
    )
    params = (
        Param("limit", "integer", default=10, minimum=1, maximum=friends.MAX_RECOMMENDATIONS),
    )
    caller = USER.scope("friends")
    reads = ("recommendations", "users")
    codes = (204101,)
    answers = {"users": {"type": "array", "items": RECOMMENDED, "minItems": 1}}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        uid, limit = req.context.caller.user(), req.context.params["limit"]
        found = friends.recommendations(req.context.reads, uid, limit)
        if not found:
            raise UpareError(204101)
        respond(req, resp, {"users": found})
