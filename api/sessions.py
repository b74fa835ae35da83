"""Sessions (CONTRACT 3): login and logout, with the `sid` cookie."""

from __future__ import annotations

import falcon

from api.callers import OPTIONAL, USER, Caller, give_session
from api.captchas import CAPTCHA, CAPTCHA_ID, check_captcha
from api.envelope import respond
from api.params import Param
from api.resource import Resource
from api.users import UID
from commands.application import Done
from commands.handlers import Bus
from commands.sessions import LogIn
from domain.keys import digest
from upare import sessions
from upare.bootstrap import Container
from upare.cache import Cache
from upare.settings import Settings


def log_in(
    req: falcon.Request, resp: falcon.Response, bus: Bus, cache: Cache, settings: Settings
) -> Done:
    """Check the captcha, prove the account (`username`, `password`) and give the caller a fresh
    session (`remember`: 30 days, else 1): `login`'s work, which the authorize endpoint's login
    page shares. Answers LogIn's uid and nickname; `req.context.caller` becomes the new session.
    """
    params = req.context.params
    check_captcha(req, cache, settings)
    command = LogIn(
        username=params["username"], password=params["password"], address=req.remote_addr
    )
    done = bus.execute(command)
    if req.context.caller.session is not None:  # a fresh session id at every login
        sessions.end_session(cache, req.cookies["sid"])
    seconds = sessions.REMEMBERED if params["remember"] else sessions.DAY
    sid = sessions.open_session(cache, done.fields["uid"], seconds)
    give_session(resp, sid, seconds, settings.cookie_secure)
    req.context.caller = Caller(uid=done.fields["uid"], kind="session", key=digest(sid))
    return done


class Login(Resource):
    path = "/api/user/login"
    summary = "Log in by username or email, password and captcha; set the `sid` cookie"
    params = (
        Param("username", required=True, missing=202102, max_length=254, description="or email"),
        Param("password", required=True, missing=202102),
        CAPTCHA,
        CAPTCHA_ID,
        Param("remember", "boolean", default=False, description="keep it 30 days, else 1 day"),
    )
    caller = OPTIONAL  # the session is read strictly: a failing cache answers 100003
    codes = (200002, 201204, 202001, 202103)
    answers = {"uid": UID, "nickname": {"type": "string"}}
    headers = {"Set-Cookie": "`sid`: the new session, HttpOnly, SameSite=Lax"}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus
        self.cache = container.cache
        self.settings = container.settings

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(req, resp, log_in(req, resp, self.bus, self.cache, self.settings))


class Logout(Resource):
    path = "/api/user/logout"
    summary = "End the caller's session and expire its `sid` cookie"
    caller = USER.scope("user_info")
    headers = {"Set-Cookie": "`sid`, expired"}

    def __init__(self, container: Container) -> None:
        self.cache = container.cache
        self.secure = container.settings.cookie_secure

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        sid = req.cookies.get("sid")
        if sid:
            sessions.end_session(self.cache, sid)
        give_session(resp, "", 0, self.secure)
        respond(req, resp, {})
