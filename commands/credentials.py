"""Proving an account with its password, behind the login lockout (CONTRACT 11).

Failures are counted (`upare.rate_limits.LOGIN_FAILURES`: 5 in 15 minutes) per client address
and per account, under the same identifiers as login's, so that both count against one
lockout. A locked address answers 201204 (with Retry-After) whatever the account, a locked
account whatever the password, until the window passes. An unknown account counts against
the address; a wrong password against both; a right one clears its account's count.
"""

from __future__ import annotations

from commands.application import WriteApplication
from commands.users import find_account
from domain.errors import UpareError
from domain.passwords import verify_password
from domain.users import User
from upare.rate_limits import LOGIN_FAILURES, RateLimits


def check_unlocked(limits: RateLimits, *identifiers: str) -> None:
    """Answer 201204 with Retry-After while these failures are past the limit."""
    seconds = limits.retry_after(LOGIN_FAILURES, *identifiers)
    if seconds is not None:
        raise UpareError(201204, headers={"Retry-After": str(seconds)})


def prove_account(
    app: WriteApplication, limits: RateLimits, name: str, password: str, address: str
) -> User:
    """Return the account (by username or email) that this password proves: 202001 when there
    is none, 202103 for a wrong password."""
    by_address = ("address", address)
    check_unlocked(limits, *by_address)
    user = find_account(app, name)
    if user is None:
        limits.hit(LOGIN_FAILURES, *by_address)
        raise UpareError(202001)
    by_account = ("account", str(user.uid))
    check_unlocked(limits, *by_account)
    if not verify_password(user.password_hash, password):
        limits.hit(LOGIN_FAILURES, *by_account)
        limits.hit(LOGIN_FAILURES, *by_address)
        raise UpareError(202103)
    limits.clear(LOGIN_FAILURES, *by_account)
    return user
