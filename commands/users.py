"""Commands on accounts: one frozen dataclass and one handler each."""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcing.persistence import IntegrityError

from commands.store import Done, EventStore
from domain.errors import UpareError
from domain.passwords import hash_password
from domain.users import Index, User, check_email, check_password, check_username

UID_ATTEMPTS = 50


@dataclass(frozen=True, kw_only=True)
class RegisterUser:
    username: str
    password: str
    email: str


def register_user(store: EventStore, command: RegisterUser) -> Done:
    """Register an account; its username and email are claimed in the same transaction."""
    username = check_username(command.username)
    email = check_email(command.email)
    password_hash = hash_password(check_password(command.password))
    for _ in range(UID_ATTEMPTS):
        if store.is_claimed("username", username):
            raise UpareError(202002)
        if store.is_claimed("email", email):
            raise UpareError(202003)
        uid = store.next_uid()
        user = User(uid=uid, username=username, email=email, password_hash=password_hash)
        try:
            done = store.record(
                user,
                Index(kind="username", value=username, owner=user.id),
                Index(kind="email", value=email, owner=user.id),
            )
        except IntegrityError:
            store.forget_uid()  # someone took the uid, the username or the email meanwhile
            continue
        return Done(done.position, {"uid": uid})
    raise UpareError(202202)
