"""Commands on accounts: one frozen dataclass and one handler each; uids and name claims."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from eventsourcing.persistence import IntegrityError

from commands.application import Done, WriteApplication
from domain.errors import UpareError
from domain.passwords import hash_password
from domain.users import (
    FIRST_UID,
    Index,
    User,
    check_email,
    check_password,
    check_username,
    index_id,
    user_id,
)


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


def claimed(app: WriteApplication, kind: str, value: str) -> bool:
    """Tell whether a unique value (a username, an email, ...) is claimed on the write side."""
    return app.exists(index_id(kind, value))


def free_username(app: WriteApplication, username: str) -> str:
    """Return the username if `register` would take it: 100004 malformed, 202002 claimed.

    `validateUniqueUsername` asks this too: the same check on the same claims, so its
    answer is right the moment a registration is stored, with no projection in between.
    """
    username = check_username(username)
    if claimed(app, "username", username):
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


def register_user(command: RegisterUser, *, app: WriteApplication, uids: Uids) -> Done:
    """Register an account; its uid, username and email are claimed in one transaction."""
    username = free_username(app, command.username)
    email = free_email(app, command.email)
    password = check_password(command.password)
    uid = uids.take()
    user = User(uid=uid, username=username, email=email, password_hash=hash_password(password))
    try:
        return app.record(
            user,
            Index(kind="username", value=username, owner=user.id),
            Index(kind="email", value=email, owner=user.id),
            uid=uid,
        )
    except IntegrityError:
        uids.back(uid)  # someone took the uid, the username or the email meanwhile
        raise
