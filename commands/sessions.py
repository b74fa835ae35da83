"""Logging in: the account a username (or email) and password prove, behind the lockout.

The lockout of CONTRACT 11 is commands/credentials.py's (`prove_account`), which snsreg's
binding shares, so that both count against one limit. A login stores no event: the resource
opens the session.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands.application import Done, WriteApplication
from commands.credentials import prove_account
from upare.rate_limits import RateLimits


@dataclass(frozen=True, kw_only=True)
class LogIn:
    username: str  # a username or an email
    password: str
    address: str  # the client's, counted for the lockout


def log_in(command: LogIn, *, app: WriteApplication, limits: RateLimits) -> Done:
    """Answer the account's uid and nickname: 202001 unknown, 202103 wrong password, 201204
    (with Retry-After) while the account or the address is locked."""
    user = prove_account(app, limits, command.username, command.password, command.address)
    return Done(None, {"uid": user.uid, "nickname": user.nickname})
