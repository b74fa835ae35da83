"""The User aggregate, the index that keeps names unique, and the rules for their values."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
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


def claim_id(key: bytes, kind: str, value: str) -> UUID:
    """Return the id of the index entry that claims `value` (case-insensitive) for `kind`.

    It is a keyed hash (HMAC-SHA256 under `key`, from the settings' secret), so that nobody
    without the key can ask the store whether a value (an email) ever had an account.
    """
    message = f"{kind}:{value.strip().casefold()}".encode()
    return UUID(bytes=hmac.new(key, message, hashlib.sha256).digest()[:16])


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
Personal = dict[str, Any] | None  # an event's personal data; None once its person was erased


def gather(state: dict[str, Any], *names: str) -> None:
    """Upcast a stored v1 state: move its plain personal fields into `personal` (v2)."""
    state["personal"] = {name: state.pop(name) for name in names}


def _read(personal: Personal, name: str, erased: Any = "") -> Any:
    """Return one value of an event's personal data (`erased` once it cannot be read)."""
    return erased if personal is None else personal[name]


class User(Aggregate):
    """A registered account.

    Its events carry no password and no code: only the password's Argon2id hash. A new email
    or phone is unverified until `verify` records its code was confirmed.

    Since v2 each event holds its personal data (email, phone, nickname, details, password
    hash, SNS openid) in one field, `personal`, which the store keeps sealed with the user's
    own key (`upare.personal`); `upcast_v1_v2` gathers a v1 row's plain fields there. After
    `erase` the key is gone: `personal` reads as None and the user's values as blank.
    """

    class Registered(Aggregate.Created):
        class_version = 2
        uid: int
        username: str
        personal: Personal  # email, password_hash

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            gather(state, "email", "password_hash")

    @staticmethod
    def create_id(uid: int, **_: object) -> UUID:
        return user_id(uid)

    @classmethod
    def register(cls, *, uid: int, username: str, email: str, password_hash: str) -> User:
        """Return a new account (its nickname is its username until changed)."""
        return cls(
            uid=uid, username=username, personal={"email": email, "password_hash": password_hash}
        )

    @event(Registered)
    def __init__(self, *, uid: int, username: str, personal: Personal) -> None:
        self.uid = uid
        self.username = username
        self.nickname = username  # claimed as a nickname too, so nicknames stay unique
        self.email: str = _read(personal, "email")
        self.phone: str | None = None
        self.verified: dict[str, str] = {}  # medium -> the value whose code was confirmed
        self.password_hash: str = _read(personal, "password_hash")
        self.details: dict[str, str] = {}
        self.avatar: dict[str, str] = {}  # size -> stored file name
        self.sns: dict[str, str] = {}  # channel -> openid
        self.erased = False

    class PasswordChanged(Aggregate.Event):
        class_version = 2
        personal: Personal  # password_hash

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            gather(state, "password_hash")

    def change_password(self, password_hash: str) -> None:
        self._change_password({"password_hash": password_hash})

    @event(PasswordChanged)
    def _change_password(self, personal: Personal) -> None:
        self.password_hash = _read(personal, "password_hash")

    class NicknameChanged(Aggregate.Event):
        class_version = 2
        personal: Personal  # nickname

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            gather(state, "nickname")

    def change_nickname(self, nickname: str) -> None:
        self._change_nickname({"nickname": nickname})

    @event(NicknameChanged)
    def _change_nickname(self, personal: Personal) -> None:
        self.nickname = _read(personal, "nickname")

    class EmailChanged(Aggregate.Event):
        class_version = 2
        personal: Personal  # email

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            gather(state, "email")

    def change_email(self, email: str) -> None:
        self._change_email({"email": email})

    @event(EmailChanged)
    def _change_email(self, personal: Personal) -> None:
        self.email = _read(personal, "email")
        self.verified.pop("email", None)

    class PhoneChanged(Aggregate.Event):
        class_version = 2
        personal: Personal  # phone

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            gather(state, "phone")

    def change_phone(self, phone: str) -> None:
        self._change_phone({"phone": phone})

    @event(PhoneChanged)
    def _change_phone(self, personal: Personal) -> None:
        self.phone = _read(personal, "phone", None)
        self.verified.pop("phone", None)

    class MediumVerified(Aggregate.Event):
        class_version = 2
        medium: str
        personal: Personal  # value

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            gather(state, "value")

    def verify(self, medium: str, value: str) -> None:
        self._verify(medium, {"value": value})

    @event(MediumVerified)
    def _verify(self, medium: str, personal: Personal) -> None:
        if personal is not None:
            self.verified[medium] = personal["value"]

    class DetailsChanged(Aggregate.Event):
        class_version = 2
        personal: Personal  # details

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            gather(state, "details")

    def change_details(self, details: dict[str, str]) -> None:
        self._change_details({"details": details})

    @event(DetailsChanged)
    def _change_details(self, personal: Personal) -> None:
        self.details = {**self.details, **_read(personal, "details", {})}

    class AvatarSet(Aggregate.Event):
        files: dict[str, str]

    @event(AvatarSet)
    def set_avatar(self, files: dict[str, str]) -> None:
        self.avatar = files

    class SnsBound(Aggregate.Event):
        class_version = 2
        channel: str
        personal: Personal  # openid

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            gather(state, "openid")

    def bind_sns(self, channel: str, openid: str) -> None:
        self._bind_sns(channel, {"openid": openid})

    @event(SnsBound)
    def _bind_sns(self, channel: str, personal: Personal) -> None:
        self.sns[channel] = _read(personal, "openid")

    class SnsUnbound(Aggregate.Event):
        channel: str

    @event(SnsUnbound)
    def unbind_sns(self, channel: str) -> None:
        del self.sns[channel]

    class Erased(Aggregate.Event):
        """The person asked to be forgotten: their key is deleted (`upare users erase`). It
        carries their uid, which the read models keyed by uid (friends, inbox...) need."""

        uid: int

    def erase(self) -> None:
        self._erase(self.uid)

    @event(Erased)
    def _erase(self, uid: int) -> None:
        self.erased = True
        self.nickname = self.email = self.password_hash = ""
        self.phone = None
        self.verified, self.details, self.avatar, self.sns = {}, {}, {}, {}

    def medium(self, medium: str) -> str | None:
        """Return the user's email or phone (`medium` names which)."""
        return self.email if medium == "email" else self.phone

    def is_verified(self, medium: str) -> bool:
        value = self.medium(medium)
        return value is not None and self.verified.get(medium) == value


class Index(Aggregate):
    """A claim on a unique value (a username, an email, a phone, a nickname, an SNS identity):
    one aggregate per value.

    Its id is a keyed hash of the normalised value (`claim_id`), so a second claim on the same
    value fails on the event store's own uniqueness constraint (or, once released and claimed
    again, on its version), in the same transaction as the claimant. `owner` is None while
    released. Since v2 its events do not hold the value itself: `upcast_v1_v2` drops it.
    """

    class Claimed(Aggregate.Created):
        class_version = 2
        kind: str
        owner: UUID

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.pop("value")

    @event(Claimed)
    def __init__(self, *, id: UUID, kind: str, owner: UUID) -> None:
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
