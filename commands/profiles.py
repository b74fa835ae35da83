"""Commands on a user's own profile: the basic fields (password, nickname, email, phone) and the
detail fields. One frozen dataclass and one handler each; every change is one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from commands.application import Done, WriteApplication
from commands.users import claim, claimed, load_user, release
from domain.details import check_details, today_in_china
from domain.errors import UpareError, invalid
from domain.passwords import hash_password, verify_password
from domain.users import (
    Index,
    User,
    check_email,
    check_nickname,
    check_password,
    check_phone,
)
from upare.cache import Cache
from upare.sessions import end_other_sessions, revoke_user_tokens

# the unique fields, how each is checked, and the code when someone else holds the value
UNIQUE: dict[str, tuple[Callable[[str], str], int]] = {
    "nickname": (check_nickname, 202005),
    "email": (check_email, 202003),
    "phone": (check_phone, 202004),
}
BASIC = ("newpassword", *UNIQUE)


@dataclass(frozen=True, kw_only=True)
class ModifyBasicInfo:
    """Change any of a user's password, nickname, email and phone; None leaves one as it is.

    `keep_session` is the identity of the caller's session (upare/sessions.py), which a
    password change does not end.
    """

    uid: int
    keep_session: str | None = None
    newpassword: str | None = None
    confirm: str | None = None
    nickname: str | None = None
    email: str | None = None
    phone: str | None = None


def _checked(command: ModifyBasicInfo) -> dict[str, str]:
    """Return the values given, trimmed and checked; 100004 naming every bad one at once."""
    given = {name: getattr(command, name) for name in BASIC if getattr(command, name) is not None}
    if not given:
        raise invalid(**{name: f"give at least one of {', '.join(BASIC)}" for name in BASIC})
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, value in given.items():
        try:
            if name == "newpassword":
                values[name] = check_password(value, name)
            else:
                values[name] = UNIQUE[name][0](value)
        except UpareError as ex:
            errors.update(ex.errors or {})
    if "newpassword" in given and command.confirm is None:
        errors["confirm"] = "is required with newpassword"
    elif "newpassword" in given and command.confirm != command.newpassword:
        errors["confirm"] = "must equal newpassword"
    if errors:
        raise invalid(**errors)
    return values


def _move_claim(
    app: WriteApplication, user: User, kind: str, old: str | None, new: str
) -> list[Index]:
    """Return the indexes that move the user's claim on a `kind` of value from `old` to `new`:
    `new` claimed (its code when someone else holds it), `old` released."""
    code = UNIQUE[kind][1]
    # a nickname may not be someone else's username either (usernames are never released)
    if kind == "nickname" and claimed(app, "username", new) not in (None, user.id):
        raise UpareError(code)
    if old is None:
        return [claim(app, kind, new, user.id, code)]
    if app.claim_id(kind, old) == app.claim_id(kind, new):
        return []  # the same value in another case: its claim is the user's already
    return [claim(app, kind, new, user.id, code), *release(app, kind, old, user.id)]


def modify_basic_info(command: ModifyBasicInfo, *, app: WriteApplication, cache: Cache) -> Done:
    """Change the given basic fields of a user, all in one transaction.

    A value the user has already is no change. A new password must differ from the current
    one (202304). A new email or phone is unverified until its code is confirmed (the User's
    events say so). A password change ends the user's other sessions and OAuth access tokens
    first, so that a failure of the cache stops the change rather than leaving a stolen
    session or token alive; their refresh tokens and codes are void by the new password
    (an Authorization's `password_stamp`).
    """
    values = _checked(command)
    user = load_user(app, command.uid)
    indexes: list[Index] = []
    password = values.pop("newpassword", None)
    if password is not None:
        if verify_password(user.password_hash, password):
            raise UpareError(202304)
        user.change_password(hash_password(password))
    for kind, value in values.items():
        old = user.nickname if kind == "nickname" else user.medium(kind)
        if value != old:
            indexes += _move_claim(app, user, kind, old, value)
            getattr(user, f"change_{kind}")(value)
    if not user.pending_events:
        return Done()  # nothing to change: no event, no position
    if password is not None:
        end_other_sessions(cache, command.uid, keep=command.keep_session)
        revoke_user_tokens(cache, command.uid)
    return app.record(user, *indexes)


@dataclass(frozen=True, kw_only=True)
class ModifyDetailInfo:
    """Set some of a user's detail fields (domain/details.py); an empty value clears one."""

    uid: int
    details: dict[str, str]


def modify_detail_info(
    command: ModifyDetailInfo, *, app: WriteApplication, clock: Callable[[], datetime]
) -> Done:
    """Record the given detail fields of a user, checked all at once."""
    details = check_details(command.details, today_in_china(clock()))
    user = load_user(app, command.uid)
    user.change_details(details)
    return app.record(user)
