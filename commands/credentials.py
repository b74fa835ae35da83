"""Proving an account with its password, under the login lockout (CONTRACT 11).

Failures count per account and per client address in one fixed window
(`upare.rate_limits.LOGIN_FAILURES`: 5 in 15 minutes). Past it, the account or the address
answers `201204` with `Retry-After` whatever the password, until the window passes.
"""

from __future__ import annotations

from commands.application import WriteApplication
from commands.users import find_account
from domain.errors import UpareError
from domain.passwords import verify_password
from domain.users import User
from upare.rate_limits import LOGIN_FAILURES, RateLimits


def lockout_keys(user: User | None, address: str) -> list[tuple[str, ...]]:
    """Return the failure counters a login attempt touches: its address's, its account's."""
    keys: list[tuple[str, ...]] = [("login", "address", address)]
    if user is not None:
        keys.append(("login", "account", str(user.uid)))
    return keys


def prove_account(
    app: WriteApplication, limits: RateLimits, name: str, password: str, address: str
) -> User:
    """Return the account (by username or email) that this password proves.

    201204 while its account or address is locked out; 202001 for no such account, 202103 for
    a wrong password, each counted as a failure.
    """
    user = find_account(app, name)
    keys = lockout_keys(user, address)
    wait = max((limits.retry_after(LOGIN_FAILURES, *key) or 0) for key in keys)
    if wait:
        raise UpareError(201204, headers={"Retry-After": str(wait)})
    if user is None or not verify_password(user.password_hash, password):
        for key in keys:
            limits.hit(LOGIN_FAILURES, *key)
        raise UpareError(202001 if user is None else 202103)
    return user
