"""The caller's own profile (CONTRACT section 5): `modifyBasicInfo` and `modifyDetailInfo`.

Their parameters declare no formats of their own: the domain checks every value given and
names all the bad ones in one 100004 (domain/users.py, domain/details.py).
"""

from __future__ import annotations

import falcon

from api.callers import USER
from api.captchas import CAPTCHA, CAPTCHA_ID, check_captcha
from api.envelope import respond
from api.params import Param
from api.resource import POSITION, Resource
from commands import profiles
from domain import details
from upare.bootstrap import Container

BASIC = (
    Param("newpassword", description="at least 8 characters, not the current password"),
    Param("confirm", description="newpassword again; required with it"),
    Param("nickname", description="1-32 characters, no controls; unique in any case"),
    Param("email", description="an address, unique in any case; unverified until its code"),
    Param("phone", description="6-15 digits, optional leading '+'; unverified until its code"),
)
DETAILS = (
    Param("realname", description="at most 64 characters, no controls"),
    Param("idcard", description="an 18-character PRC resident ID: valid birth date, check digit"),
    Param("address", description="at most 200 characters, no controls"),
    Param("gender", description=f"one of {', '.join(details.GENDERS)}"),
    Param("nation", description="at most 32 characters, no controls"),
    Param("postalcode", description="6 digits"),
    Param("departmentcode", description="1-32 letters, digits, '_', '.', '-'"),
    Param("majorcode", description="1-32 letters, digits, '_', '.', '-'"),
    Param("leader", description="at most 64 characters, no controls"),
)
# a token must be allowed the user's profile; without a session a captcha cannot be answered
CALLER = USER.scope("user_info")


class ModifyBasicInfo(Resource):
    path = "/api/user/modifybasicinfo"
    summary = "Change the caller's password, nickname, email or phone (with a captcha)"
    # `position` is not declared in `answers`: a request that changes nothing stores nothing
    params = (*BASIC, CAPTCHA, CAPTCHA_ID)
    caller = CALLER
    codes = (200002, 202001, 202003, 202004, 202005, 202303, 202304)

    def __init__(self, container: Container) -> None:
        self.bus = container.bus
        self.cache = container.cache
        self.settings = container.settings

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_captcha(req, self.cache, self.settings)
        params, caller = req.context.params, req.context.caller
        command = profiles.ModifyBasicInfo(
            uid=caller.user(),
            keep_session=caller.key if caller.kind == "session" else None,
            **{param.name: params[param.name] for param in BASIC},
        )
        respond(req, resp, self.bus.execute(command))


class ModifyDetailInfo(Resource):
    path = "/api/user/modifydetailinfo"
    summary = "Set the caller's detail fields (an empty value clears one)"
    params = DETAILS
    caller = CALLER
    codes = (202001, 202303)
    answers = {"position": POSITION}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        given = {param.name: params[param.name] for param in DETAILS}
        command = profiles.ModifyDetailInfo(
            uid=req.context.caller.user(),
            details={name: value for name, value in given.items() if value is not None},
        )
        respond(req, resp, self.bus.execute(command))
