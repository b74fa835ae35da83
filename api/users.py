"""Account endpoints (CONTRACT section 5)."""

from __future__ import annotations

from typing import Any

import falcon

from api.callers import OPTIONAL
from api.envelope import respond
from api.params import RESPONSE_TYPE, Param
from api.resource import POSITION, Resource
from commands.users import RegisterUser, free_email, free_username
from domain.errors import UpareError
from domain.users import EMAIL, MIN_PASSWORD, USERNAME
from queries import users
from upare.bootstrap import Container

USERNAME_PARAM = Param(
    "username",
    required=True,
    pattern=USERNAME.pattern,
    description="3-32 letters, digits, '_', '.', '-'",
)
PASSWORD_PARAM = Param(
    "password", required=True, min_length=MIN_PASSWORD, description="at least 8 characters"
)
EMAIL_PARAM = Param("email", required=True, max_length=254, pattern=EMAIL.pattern)
UID = {"type": "integer", "minimum": 10001}
PROFILE: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "username", "nickname", "avatar"],
    "properties": {
        "uid": UID,
        "username": {"type": "string"},
        "nickname": {"type": "string"},
        "avatar": {"type": ["object", "null"]},
    },
}
# without a uid, info answers the caller's own profile: PROFILE and these
OWN_FIELDS = {
    "email": {"type": "string"},
    "email_verified": {"type": "boolean"},
    "phone": {"type": ["string", "null"]},
    "phone_verified": {"type": "boolean"},
    "details": {"type": "object", "additionalProperties": {"type": "string"}},
}


class Register(Resource):
    path = "/api/user/register"
    summary = "Register an account, mail its email's verification code, answer its uid"
    params = (USERNAME_PARAM, PASSWORD_PARAM, EMAIL_PARAM)
    codes = (202002, 202003, 202201, 202202)  # 202201 carries `uid` and `position` too
    answers = {"uid": UID, "position": POSITION}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        command = RegisterUser(
            username=params["username"], password=params["password"], email=params["email"]
        )
        respond(req, resp, self.bus.execute(command))


class ValidateUniqueUsername(Resource):
    path = "/api/user/validateuniqueusername"
    summary = "Tell whether a username is free (0) or registered (202002)"
    params = (USERNAME_PARAM, RESPONSE_TYPE)
    codes = (202002,)
    messages = {202002: "The username already registered"}  # the document's own wording here

    def __init__(self, container: Container) -> None:
        self.app = container.app  # the write side's claims: right the moment a register is

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        free_username(self.app, req.context.params["username"])
        respond(req, resp, {})


class ValidateUniqueEmail(Resource):
    path = "/api/user/validateuniqueemail"
    summary = "Tell whether an email is free (0) or registered (202003)"
    params = (EMAIL_PARAM,)
    codes = (202003,)

    def __init__(self, container: Container) -> None:
        self.app = container.app  # the write side's claims, as for usernames

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        free_email(self.app, req.context.params["email"])
        respond(req, resp, {})


class Info(Resource):
    path = "/api/user/info"
    summary = "Answer a user's public profile (`user`), or without a uid the caller's own"
    reads = ("users",)
    params = (Param("uid", "integer", description="without it, the logged-in user's own"),)
    # with a uid anyone may ask; without one, a user asks for their own; tokens need user_info
    caller = OPTIONAL.scope("user_info")
    codes = (202001, 202101)
    answers = {"user": {**PROFILE, "properties": {**PROFILE["properties"], **OWN_FIELDS}}}
    get_too = True

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        uid = req.context.params["uid"]
        if uid is None:
            profile = users.own_profile(req.context.reads, req.context.caller.user())
        else:
            profile = users.public_profile(req.context.reads, uid)
        if profile is None:
            raise UpareError(202001)
        respond(req, resp, {"user": profile})
