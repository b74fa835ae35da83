"""The User aggregate, the index that keeps names unique, and the rules for their values."""

from __future__ import annotations

import re
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import invalid

NAMESPACE = uuid5(NAMESPACE_URL, "https://upare.com/ids")
FIRST_UID = 10001
USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")
# No controls or spaces: `\s` differs between Python and the ECMA regexes of JSON Schema.
EMAIL = re.compile(r"[^@\x00-\x20\x7f]{1,64}@[^@\x00-\x20\x7f]+\.[^@\x00-\x20\x7f]+")
MIN_PASSWORD = 8


def user_id(uid: int) -> UUID:
    """Return the aggregate id of the user with this numeric uid."""
    return uuid5(NAMESPACE, f"user:{uid}")


def index_id(kind: str, value: str) -> UUID:
    """Return the id of the index entry that claims `value` (case-insensitive) for `kind`."""
    return uuid5(NAMESPACE, f"{kind}:{value.strip().casefold()}")


def check_username(username: str) -> str:
    """Return the username if it is 3-32 letters, digits, `_`, `.` or `-`."""
    if not USERNAME.fullmatch(username):
        raise invalid(username="must be 3-32 letters, digits, '_', '.' or '-'")
    return username


def check_password(password: str) -> str:
    """Return the password if it is long enough."""
    if len(password) < MIN_PASSWORD:
        raise invalid(password=f"must be at least {MIN_PASSWORD} characters")
    return password


def check_email(email: str) -> str:
    """Return the email, trimmed, if it looks like an address."""
    email = email.strip()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise invalid(email="must be an email address")
    return email


class User(Aggregate):
    """A registered account."""

    class Registered(Aggregate.Created):
        uid: int
        username: str
        email: str
        password_hash: str

    @staticmethod
    def create_id(uid: int, **_: object) -> UUID:
        return user_id(uid)

    @event(Registered)
    def __init__(self, *, uid: int, username: str, email: str, password_hash: str) -> None:
        self.uid = uid
        self.username = username
        self.nickname = username
        self.email = email
        self.password_hash = password_hash


class Index(Aggregate):
    """A claim on a unique value (a username, an email): one aggregate per value.

    Its id is derived from the normalised value, so a second claim on the same value fails on
    the event store's own uniqueness constraint, in the same transaction as the claimant.
    """

    class Claimed(Aggregate.Created):
        kind: str
        value: str
        owner: UUID

    @staticmethod
    def create_id(kind: str, value: str, **_: object) -> UUID:
        return index_id(kind, value)

    @event(Claimed)
    def __init__(self, *, kind: str, value: str, owner: UUID) -> None:
        self.kind = kind
        self.owner = owner
