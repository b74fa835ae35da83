"""Commands on accounts: one frozen dataclass and one handler each; uids and name claims."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from commands.application import Done, WriteApplication
from commands.inbox import message
from domain.errors import UpareError
from domain.inbox import WELCOME
from domain.passwords import hash_password
from domain.users import (
    FIRST_UID,
    Index,
    User,
    check_email,
    check_password,
    check_username,
    user_id,
)
from projections.database import ReadDB
from upare import codes
from upare.cache import Cache
from upare.rate_limits import RateLimits
from upare.sessions import CACHE_FAILURES
from upare.settings import Settings
from workers.deliverer import Deliverer, Policy
from workers.mailer import Mailer

log = logging.getLogger(__name__)


class Uids:
    """Hand out numeric uids: dense from FIRST_UID, each taken once, across processes.

    A uid is taken when its user is saved (the user's id is derived from it), so the first
    free one is found by galloping then bisecting over the users' ids. Threads of one process
    get different candidates; a candidate another process takes meanwhile makes the save fail
    (the command is then run again) and is given `back`.
    """

    def __init__(self, app: WriteApplication) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._next: int | None = None
        self._returned: set[int] = set()

    def take(self) -> int:
        """Return a uid that is free as far as the store tells now, for this thread alone."""
        with self._lock:
            while self._returned:
                uid = min(self._returned)
                self._returned.discard(uid)
                if not self.app.exists(user_id(uid)):
                    return uid
            if self._next is None or self.app.exists(user_id(self._next)):
                self._next = self._first_free(self._next)
            uid, self._next = self._next, self._next + 1
            return uid

    def back(self, uid: int) -> None:
        """Give back a uid whose save failed, so it is handed out again if still free."""
        with self._lock:
            self._returned.add(uid)

    def _first_free(self, after: int | None) -> int:
        taken, step = (after or FIRST_UID) - 1, 1
        while self.app.exists(user_id(taken + step)):
            taken, step = taken + step, step * 2
        free = taken + step
        while free - taken > 1:
            middle = (taken + free) // 2
            taken, free = (middle, free) if self.app.exists(user_id(middle)) else (taken, middle)
        return free


def _index(app: WriteApplication, kind: str, value: str) -> Index | None:
    try:
        index: Index = app.repository.get(app.claim_id(kind, value))
    except AggregateNotFoundError:
        return None
    return index


def claimed(app: WriteApplication, kind: str, value: str) -> UUID | None:
    """Return who holds a unique value (a username, an email, ...) on the write side, if any."""
    index = _index(app, kind, value)
    return None if index is None else index.owner


def claim(app: WriteApplication, kind: str, value: str, owner: UUID, code: int) -> Index:
    """Return the index claiming `value` for `owner`, to save with the owner's change.

    `code` is answered when someone else holds it. Two claimants racing for a free value both
    get an index here; the second save fails on its version (and the command runs again).
    """
    index = _index(app, kind, value)
    if index is None:
        return Index(id=app.claim_id(kind, value), kind=kind, owner=owner)
    if index.owner not in (None, owner):
        raise UpareError(code)
    if index.owner is None:
        index.reclaim(owner)
    return index


def release(app: WriteApplication, kind: str, value: str, owner: UUID) -> list[Index]:
    """Return the released index of a value `owner` held (to save with the change), if any."""
    index = _index(app, kind, value)
    if index is None or index.owner != owner:
        return []
    index.release()
    return [index]


def find_account(app: WriteApplication, name: str) -> User | None:
    """Return the user whose username, or else email, is `name` (any case), if there is one
    (an erased user is no one)."""
    owner = claimed(app, "username", name) or claimed(app, "email", name)
    if owner is None:
        return None
    user: User = app.repository.get(owner)
    return None if user.erased else user


ERASED = get_topic(User.Erased)


def check_user(topics: list[str]) -> None:
    """Refuse a user whose stored events have these topics if there are none, or the user
    was erased: 202001, as `load_user` does.

    For a command that only names another user (friendmake): their stored events' topics
    tell (`WriteApplication.load_with_topics` reads them), so nothing is decoded, no personal
    data opened, no aggregate rebuilt."""
    if not topics or ERASED in topics:
        raise UpareError(202001)


def load_user(app: WriteApplication, uid: int) -> User:
    """Return the user with this uid; 202001 when there is none (or they were erased)."""
    try:
        user: User = app.repository.get(user_id(uid))
    except AggregateNotFoundError:
        raise UpareError(202001) from None
    if user.erased:
        raise UpareError(202001)
    return user


def free_username(app: WriteApplication, username: str) -> str:
    """Return the username if `register` would take it: 100004 malformed, 202002 claimed.

    `validateUniqueUsername` asks this too: the same check on the same claims, so its
    answer is right the moment a registration is stored, with no projection in between.
    """
    username = check_username(username)
    # a new user's nickname is the username, so a username may not be someone's nickname
    if claimed(app, "username", username) or claimed(app, "nickname", username):
        raise UpareError(202002)
    return username


def free_email(app: WriteApplication, email: str) -> str:
    """Return the email (trimmed) if `register` would take it: 100004 malformed, 202003 claimed."""
    email = check_email(email)
    if claimed(app, "email", email):
        raise UpareError(202003)
    return email


@dataclass(frozen=True, kw_only=True)
class RegisterUser:
    username: str
    password: str
    email: str


def open_account(
    app: WriteApplication,
    uids: Uids,
    command: RegisterUser,
    also: Callable[[User], list[Aggregate]] = lambda user: [],
) -> Done:
    """Open an account, in one transaction: the user, its claims on its uid, username, nickname
    and email, a welcome message in its inbox, and whatever `also` adds for the new user
    (snsreg's binding).
    """
    username = free_username(app, command.username)
    email = free_email(app, command.email)
    password = check_password(command.password)
    uid = uids.take()
    user = User.register(
        uid=uid, username=username, email=email, password_hash=hash_password(password)
    )
    try:
        return app.record(
            user,
            Index(id=app.claim_id("username", username), kind="username", owner=user.id),
            claim(app, "nickname", username, user.id, 202002),
            claim(app, "email", email, user.id, 202003),
            message(uid, WELCOME.format(username=username)),
            *also(user),
            uid=uid,
        )
    except (IntegrityError, UpareError):
        uids.back(uid)  # someone took the uid or a claimed value meanwhile, or `also` refused
        raise


def register_user(
    command: RegisterUser,
    *,
    app: WriteApplication,
    uids: Uids,
    cache: Cache,
    limits: RateLimits,
    db: ReadDB,
    mailer: Mailer,
    settings: Settings,
) -> Done:
    """Register an account (`open_account`), then mail its email's verification code at once."""
    done = open_account(app, uids, command)
    mail_first_code(
        done, command.email, cache=cache, limits=limits, db=db, mailer=mailer, settings=settings
    )
    return done


def mail_first_code(
    done: Done,
    email: str,
    *,
    cache: Cache,
    limits: RateLimits,
    db: ReadDB,
    mailer: Mailer,
    settings: Settings,
) -> None:
    """Mail a new account's verification code to its email at once (register, snsreg).

    202201 (with `uid` and `position`) when the code could not be handed to the mailer (or
    made: the cache failed, or the address had its day's codes): the account exists, a mail
    that failed stays queued for retry, and `sendcode` may send a new code at once.
    """
    uid, email = done.fields["uid"], check_email(email)  # the email as stored
    unsent = UpareError(202201, fields={"uid": uid, "position": done.position})
    try:
        key, mail = codes.start_send(cache, limits, settings, uid, "email", email)
    except UpareError as ex:  # the address had its day's codes already
        raise unsent from ex
    except CACHE_FAILURES as ex:
        log.warning("the cache failed, so user %d got no code: %r", uid, ex)
        raise unsent from ex
    if Deliverer(db, mailer, Policy.of(settings)).deliver_now(key, mail).error:
        codes.release(cache, settings, uid, "email")  # sendcode may send a new one at once
        raise unsent
