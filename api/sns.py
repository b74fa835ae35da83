"""SNS binding endpoints: `snsreg` and `unbind` (CONTRACT 5)."""

from __future__ import annotations

import falcon

from api.callers import USER
from api.envelope import respond
from api.params import Param
from api.resource import POSITION, Resource
from api.users import UID
from commands.sns import BindSns, RegisterWithSns, UnbindSns
from domain.users import EMAIL
from upare.bootstrap import Container
from upare.sns import CHANNEL


class SnsRegister(Resource):
    path = "/api/user/snsreg"
    summary = (
        "Bind the SNS account an `sns_ticket` proves: to a new account (type=reg, as"
        " `register`) or to the account `username` and `password` prove (type=log)"
    )
    params = (
        Param("username", required=True, max_length=254, description="with type=log: or email"),
        Param("password", required=True),
        Param("confirm", required_if=("type", "reg"), description="the password again"),
        Param("email", required_if=("type", "reg"), max_length=254, pattern=EMAIL.pattern),
        Param("type", required=True, choices=("reg", "log")),
        Param(
            "sns_ticket",
            required=True,
            max_length=2048,
            description="the server-signed ticket naming the SNS account",
        ),
    )
    codes = (202001, 202002, 202003, 202103, 201204, 202201, 202202)
    answers = {"uid": UID, "position": POSITION}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        command: RegisterWithSns | BindSns
        if params["type"] == "reg":
            command = RegisterWithSns(
                username=params["username"],
                password=params["password"],
                confirm=params["confirm"],
                email=params["email"],
                ticket=params["sns_ticket"],
            )
        else:
            command = BindSns(
                username=params["username"],
                password=params["password"],
                ticket=params["sns_ticket"],
                address=req.remote_addr,
            )
        respond(req, resp, self.bus.execute(command))


class Unbind(Resource):
    path = "/api/user/unbind"
    summary = "Unbind the caller's SNS account of `channel` (without it: the one bound)"
    params = (Param("channel", max_length=32, pattern=CHANNEL.pattern, description="e.g. weibo"),)
    caller = USER.scope("user_info")
    codes = (202302, 202001)  # 202001: a session whose account is gone
    answers = {"position": POSITION}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        command = UnbindSns(uid=req.context.caller.user(), channel=req.context.params["channel"])
        respond(req, resp, self.bus.execute(command))
