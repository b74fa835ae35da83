"""Verification code endpoints (CONTRACT 5): `sendcode` and `validateCommunicationCode`."""

from __future__ import annotations

import falcon

from api.callers import USER
from api.envelope import respond
from api.params import Param
from api.resource import POSITION, Resource
from commands.codes import SendCode as SendCodeCommand
from commands.codes import VerifyMedium
from domain.errors import UpareError
from domain.users import MEDIA
from upare.bootstrap import Container
from upare.codes import DIGITS, VERIFY, redeem

MEDIUM = Param(
    "medium", choices=MEDIA, default="email", description="`email` (the default) or `phone`"
)
CODE = Param(
    "code",
    "integer",
    required=True,
    minimum=0,
    maximum=10**DIGITS - 1,
    description="the 6-digit code sent by register or sendcode (leading zeros may be left out)",
)


class SendCode(Resource):
    path = "/api/user/sendcode"
    summary = "Send a new verification code to the user's email (a mail) or phone (an SMS)"
    params = (MEDIUM,)
    caller = USER.scope("user_info")  # the user's own email and phone
    codes = (202007, 201204)

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        uid = req.context.caller.user()
        command = SendCodeCommand(uid=uid, medium=req.context.params["medium"])
        respond(req, resp, self.bus.execute(command))


class ValidateCommunicationCode(Resource):
    path = "/api/user/validatecommunicationcode"
    summary = "Verify the user's email or phone with the code sent to it"
    params = (CODE, MEDIUM)
    caller = USER.scope("user_info")  # the user's own email and phone
    codes = (202006,)
    answers = {"position": POSITION}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus
        self.cache = container.cache
        self.settings = container.settings

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        uid = req.context.caller.user()
        medium, code = req.context.params["medium"], req.context.params["code"]
        sent_to = redeem(self.cache, self.settings, uid, medium, VERIFY, f"{code:0{DIGITS}d}")
        if sent_to is None:
            raise UpareError(202006)
        respond(req, resp, self.bus.execute(VerifyMedium(uid=uid, medium=medium, value=sent_to)))
