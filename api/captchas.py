"""Captchas (CONTRACT 4): the parameters endpoints take and the check they make."""

from __future__ import annotations

import falcon

from api.params import Param
from domain.errors import UpareError
from upare import captchas
from upare.cache import Cache
from upare.settings import Settings

CAPTCHA = Param("captcha", description="the answer of `/api/Image/captcha`")
CAPTCHA_ID = Param("captcha_id", default="default", max_length=64, description="its scenario")


def check_captcha(req: falcon.Request, cache: Cache, settings: Settings) -> None:
    """Use up the caller's captcha (CAPTCHA, CAPTCHA_ID); 200002 unless it was answered."""
    params = req.context.params
    if not captchas.verify(
        cache,
        req.context.caller.key if req.context.caller.kind == "session" else None,
        params["captcha_id"],
        params["captcha"],
        test_mode=settings.captcha_test_mode,
    ):
        raise UpareError(200002)
