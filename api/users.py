"""Account endpoints (CONTRACT section 5)."""

from __future__ import annotations

import falcon

from api.envelope import respond
from api.params import Params
from api.resource import MIN_POSITION, Param, Resource
from commands.handlers import execute
from commands.users import RegisterUser
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
        self.store = container.store

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = Params(req)
        command = RegisterUser(
            username=params.text("username", required=True) or "",
            password=params.text("password", required=True) or "",
            email=params.text("email", required=True) or "",
        )
        respond(req, resp, execute(self.store, command))


class ValidateUniqueUsername(Resource):
    path = "/api/user/validateuniqueusername"
    summary = "Tell whether a username is free (0) or registered (202002)"
    reads = ("users",)
    params = (Param("username", required=True), Param("response_type"), MIN_POSITION)

    def __init__(self, container: Container) -> None:
        self.db = container.db

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        username = Params(req).text("username", required=True) or ""
        if users.username_taken(self.db, username):
            raise UpareError(202002, message="The username already registered")
        respond(req, resp, {})


class ValidateUniqueEmail(Resource):
    path = "/api/user/validateuniqueemail"
    summary = "Tell whether an email is free (0) or registered (202003)"
    reads = ("users",)
    params = (Param("email", required=True), MIN_POSITION)

    def __init__(self, container: Container) -> None:
        self.db = container.db

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        email = Params(req).text("email", required=True) or ""
        if users.email_taken(self.db, email):
            raise UpareError(202003)
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
