"""Commands on verification codes: send one to a user's email or phone, verify the medium.

A code is checked (and used up) before `VerifyMedium` runs, by `upare.codes.redeem`, as a
captcha is: the bus may run a command again after a concurrent write, and a code used up by
the first run would fail the second.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands.application import Done, WriteApplication
from commands.users import load_user
from domain.errors import UpareError, invalid
from projections import outbox
from projections.database import ReadDB
from upare import codes
from upare.cache import Cache
from upare.rate_limits import RateLimits
from upare.settings import Settings


@dataclass(frozen=True, kw_only=True)
class SendCode:
    uid: int
    medium: str = "email"  # or "phone"


def send_code(
    command: SendCode,
    *,
    app: WriteApplication,
    cache: Cache,
    limits: RateLimits,
    db: ReadDB,
    settings: Settings,
) -> Done:
    """Queue a new code to the user's email (a mail) or phone (an SMS) in the outbox.

    202007 inside the resend interval, 201204 past the day's sends to that address or number,
    100004 naming `medium` when the user has no phone.
    """
    user = load_user(app, command.uid)
    value = user.medium(command.medium)
    if value is None:
        raise invalid(medium=f"there is no {command.medium} to send a code to")
    key, message = codes.start_send(cache, limits, settings, user.uid, command.medium, value)
    outbox.enqueue(db, key, message)
    return Done()


@dataclass(frozen=True, kw_only=True)
class VerifyMedium:
    uid: int
    medium: str
    value: str  # the email or phone number a redeemed code was sent to


def verify_medium(command: VerifyMedium, *, app: WriteApplication) -> Done:
    """Record that the user's medium is verified; 202006 when it no longer has the value the
    code was sent to."""
    user = load_user(app, command.uid)
    if user.medium(command.medium) != command.value:
        raise UpareError(202006)
    user.verify(command.medium, command.value)
    return app.record(user)
