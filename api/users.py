"""Account endpoints (CONTRACT section 5)."""

from __future__ import annotations

import falcon

from api.envelope import respond
from api.params import Params
from api.resource import MIN_POSITION, Param, Resource
from commands.users import RegisterUser, free_email, free_username
from domain.errors import UpareError
from queries import users
from upare.bootstrap import Container


class Register(Resource):
    path = "/api/user/register"
    summary = "Register an account and answer its numeric uid"
    params = (
        Param("username", required=True, description="3-32 letters, digits, '_', '.', '-'"),
        Param("password", required=True, description="at least 8 characters"),
        Param("email", required=True),
    )

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = Params(req)
        command = RegisterUser(
            username=params.text("username", required=True) or "",
            password=params.text("password", required=True) or "",
            email=params.text("email", required=True) or "",
        )
        respond(req, resp, self.bus.execute(command))


class ValidateUniqueUsername(Resource):
    path = "/api/user/validateuniqueusername"
    summary = "Tell whether a username is free (0) or registered (202002)"
    params = (Param("username", required=True), Param("response_type"))

    def __init__(self, container: Container) -> None:
        self.app = container.app  # the write side's claims: right the moment a register is

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        username = Params(req).text("username", required=True) or ""
        try:
            free_username(self.app, username)
        except UpareError as ex:
            if ex.code != 202002:
                raise
            raise UpareError(202002, message="The username already registered") from None
        respond(req, resp, {})


class ValidateUniqueEmail(Resource):
    path = "/api/user/validateuniqueemail"
    summary = "Tell whether an email is free (0) or registered (202003)"
    params = (Param("email", required=True),)

    def __init__(self, container: Container) -> None:
        self.app = container.app  # the write side's claims, as for usernames

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        free_email(self.app, Params(req).text("email", required=True) or "")
        respond(req, resp, {})


class Info(Resource):
    path = "/api/user/info"
    summary = "Answer a user's public profile (`user`)"
    reads = ("users",)
    params = (
        Param("uid", "integer", description="without it, the logged-in user's own"),
        MIN_POSITION,
    )
    get_too = True

    def __init__(self, container: Container) -> None:
        self.db = container.db

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        uid = Params(req).integer("uid")
        if uid is None:
            raise UpareError(202101)  # no sessions yet: nobody is logged in
        profile = users.public_profile(self.db, uid)
        if profile is None:
            raise UpareError(202001)
        respond(req, resp, {"user": profile})
