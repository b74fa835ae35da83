"""Captchas (CONTRACT 4): the image, its verification, and the check other endpoints make.

A captcha is bound to the caller's session: a caller without one gets an anonymous session
(and its `sid` cookie) with its first captcha. The answer is never sent: only drawn.
"""

from __future__ import annotations

import falcon

from api.callers import OPTIONAL, give_session
from api.envelope import respond
from api.params import Param
from api.resource import Resource
from domain.errors import UpareError
from domain.keys import digest
from upare import captchas, sessions
from upare.bootstrap import Container
from upare.cache import Cache
from upare.settings import Settings

CAPTCHA = Param("captcha", description="the answer of `/api/Image/captcha`")
CAPTCHA_ID = Param("captcha_id", default="default", max_length=64, description="its scenario")
SCENARIO = Param("id", default="default", max_length=64, description="the captcha's scenario")
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "bmp": "image/bmp"}


def check_captcha(req: falcon.Request, cache: Cache, settings: Settings) -> None:
    """Use up the caller's captcha (CAPTCHA, CAPTCHA_ID); 200002 unless it was answered."""
    params = req.context.params
    if not captchas.verify(
        cache,
        req.context.caller.session,
        params["captcha_id"],
        params["captcha"],
        test_mode=settings.captcha_test_mode,
    ):
        raise UpareError(200002)


class Captcha(Resource):
    path = "/api/image/captcha"
    summary = "Draw a new captcha for the caller's session and scenario; answer the image"
    params = (Param("type", choices=tuple(MEDIA_TYPES), default="png"), SCENARIO)
    get_too = True
    produces = tuple(MEDIA_TYPES.values())
    headers = {
        "Cache-Control": "no-store",
        "Set-Cookie": "`sid`: an anonymous session, when the caller had none",
    }

    def __init__(self, container: Container) -> None:
        self.cache = container.cache
        self.secure = container.settings.cookie_secure

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        session = req.context.caller.session
        if session is None:
            sid = sessions.open_session(self.cache, None)
            give_session(resp, sid, sessions.DAY, self.secure)
            session = digest(sid)
        answer = captchas.new_answer()
        captchas.remember(self.cache, session, params["id"], answer)
        resp.content_type = MEDIA_TYPES[params["type"]]
        resp.set_header("Cache-Control", "no-store")
        resp.data = captchas.draw(answer, params["type"])


class CaptchaVerify(Resource):
    path = "/api/image/captchaverify"
    summary = "Tell whether the answer is the caller's captcha (0) or not (200002)"
    params = (
        CAPTCHA,
        SCENARIO,
        Param("flush", "boolean", default=True, description="no: the captcha stays for another"),
    )
    caller = OPTIONAL  # the session is read strictly: a failing cache answers 100003, not 200002
    codes = (200002,)
    messages = {200002: "Captcha verification failed"}  # the document's own wording here
    get_too = True

    def __init__(self, container: Container) -> None:
        self.cache = container.cache
        self.test_mode = container.settings.captcha_test_mode

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        if not captchas.verify(
            self.cache,
            req.context.caller.session,
            params["id"],
            params["captcha"],
            flush=params["flush"],
            test_mode=self.test_mode,
        ):
            raise UpareError(200002)
        respond(req, resp, {})
