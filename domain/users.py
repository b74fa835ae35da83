"""The User aggregate, the index that keeps names unique, and the rules for their values."""

from __future__ import annotations

import re
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import invalid
from domain.text import text_problem

NAMESPACE = uuid5(NAMESPACE_URL, "https://upare.com/ids")
FIRST_UID = 10001
USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")
# No controls and no character Python's `str.isspace` calls a space (spelt out, as `\s`
# differs between Python and the ECMA regexes of JSON Schema: the rule is the same on both
# sides, and trimming can never turn a valid address into an invalid one), nor the specials
# that make a mail header's address more than one (RFC 5322).
_EMAIL_PART = (
    r"[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    r'()<>\[\]:;,\\"]'
)
EMAIL = re.compile(rf"{_EMAIL_PART}{{1,64}}@{_EMAIL_PART}+\.{_EMAIL_PART}+")
MIN_PASSWORD = 8
MAX_NICKNAME = 32
PHONE = re.compile(r"\+?[0-9]{6,15}")  # digits only, as E.164 has at most 15


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


def check_password(password: str, name: str = "password") -> str:
    """Return the password if it is long enough (`name`: the parameter a refusal names)."""
    if len(password) < MIN_PASSWORD:
        raise invalid(**{name: f"must be at least {MIN_PASSWORD} characters"})
    return password


def check_email(email: str) -> str:
    """Return the email, trimmed, if it looks like an address."""
    email = email.strip()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise invalid(email="must be an email address")
    return email


def check_nickname(nickname: str) -> str:
    """Return the nickname, trimmed, if it is 1-32 characters of text (domain/text.py)."""
    nickname = nickname.strip()
    problem = text_problem(nickname, MAX_NICKNAME)
    if problem:
        raise invalid(nickname=problem)
    return nickname


def check_phone(phone: str) -> str:
    """Return the phone number, trimmed, if it is 6-15 digits with an optional leading `+`."""
    phone = phone.strip()
    if not PHONE.fullmatch(phone):
        raise invalid(phone="must be 6-15 digits, with an optional leading '+'")
    return phone


MEDIA = ("email", "phone")


class User(Aggregate):
    """A registered account.

    Its events carry no password and no code: only the password's Argon2id hash. A new email
    or phone is unverified until `verify` records its code was confirmed.
    """

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
        self.nickname = username  # claimed as a nickname too, so nicknames stay unique
        self.email = email
        self.phone: str | None = None
        self.verified: dict[str, str] = {}  # medium -> the value whose code was confirmed
        self.password_hash = password_hash
        self.details: dict[str, str] = {}
        self.avatar: dict[str, str] = {}  # size -> stored file name
        self.sns: dict[str, str] = {}  # channel -> openid

    class PasswordChanged(Aggregate.Event):
        password_hash: str

    @event(PasswordChanged)
    def change_password(self, password_hash: str) -> None:
        self.password_hash = password_hash

    class NicknameChanged(Aggregate.Event):
        nickname: str

    @event(NicknameChanged)
    def change_nickname(self, nickname: str) -> None:
        self.nickname = nickname

    class EmailChanged(Aggregate.Event):
        email: str

    @event(EmailChanged)
    def change_email(self, email: str) -> None:
        self.email = email
        self.verified.pop("email", None)

    class PhoneChanged(Aggregate.Event):
        phone: str

    @event(PhoneChanged)
    def change_phone(self, phone: str) -> None:
        self.phone = phone
        self.verified.pop("phone", None)

    class MediumVerified(Aggregate.Event):
        medium: str
        value: str

    @event(MediumVerified)
    def verify(self, medium: str, value: str) -> None:
        self.verified[medium] = value

    class DetailsChanged(Aggregate.Event):
        details: dict[str, str]

    @event(DetailsChanged)
    def change_details(self, details: dict[str, str]) -> None:
        self.details = {**self.details, **details}

    class AvatarSet(Aggregate.Event):
        files: dict[str, str]

    @event(AvatarSet)
    def set_avatar(self, files: dict[str, str]) -> None:
        self.avatar = files

    class SnsBound(Aggregate.Event):
        channel: str
        openid: str

    @event(SnsBound)
    def bind_sns(self, channel: str, openid: str) -> None:
        self.sns[channel] = openid

    class SnsUnbound(Aggregate.Event):
        channel: str

    @event(SnsUnbound)
    def unbind_sns(self, channel: str) -> None:
        del self.sns[channel]

    def medium(self, medium: str) -> str | None:
        """Return the user's email or phone (`medium` names which)."""
        return self.email if medium == "email" else self.phone

    def is_verified(self, medium: str) -> bool:
        value = self.medium(medium)
        return value is not None and self.verified.get(medium) == value


class Index(Aggregate):
    """A claim on a unique value (a username, an email, a phone, a nickname, an SNS identity):
    one aggregate per value.

    Its id is derived from the normalised value, so a second claim on the same value fails on
    the event store's own uniqueness constraint (or, once released and claimed again, on its
    version), in the same transaction as the claimant. `owner` is None while released.
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
        self.owner: UUID | None = owner

    class Released(Aggregate.Event):
        pass

    @event(Released)
    def release(self) -> None:
        self.owner = None

    class Reclaimed(Aggregate.Event):
        owner: UUID

    @event(Reclaimed)
    def reclaim(self, owner: UUID) -> None:
        self.owner = owner
