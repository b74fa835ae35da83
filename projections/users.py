"""The users read model: profiles (public and own), and the keys that tell a name is taken."""

from __future__ import annotations

import json
from typing import Any

from domain.users import User
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord


class UsersProjection(Projection):
    """One row per user. `avatar` and `details` are JSON objects (size -> file name; the
    detail fields set so far); `email_verified`/`phone_verified` are 0 or 1.

    An erased user's row is dropped (`User.Erased`); their events read with `personal` None
    (their key is gone), which a rebuild skips, so it leaves no row of theirs either.
    """

    name = "users"
    version = 3
    tables = {
        "profiles": (
            "uid BIGINT PRIMARY KEY, user_id TEXT NOT NULL, username TEXT NOT NULL,"
            " username_key TEXT NOT NULL, nickname TEXT NOT NULL, email TEXT NOT NULL,"
            " email_key TEXT NOT NULL,"
            " email_verified INTEGER NOT NULL, phone TEXT, phone_verified INTEGER NOT NULL,"
            " avatar TEXT NOT NULL, details TEXT NOT NULL, registered_at TEXT NOT NULL"
        ),
    }
    indexes = {"profiles": ["user_id", "username_key", "email_key"]}

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        data, personal = event.data, event.data["personal"]
        if personal is None:
            return
        tx.execute(
            f"INSERT INTO {self.table('profiles')} (uid, user_id, username, username_key,"
            " nickname, email, email_key, email_verified, phone, phone_verified, avatar,"
            " details, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (uid) DO NOTHING",  # all placeholders: a rebuild's runs go in bulk
            (
                data["uid"],
                str(event.originator_id),
                data["username"],
                data["username"].casefold(),
                data["username"],
                personal["email"],
                personal["email"].strip().casefold(),
                0,
                None,
                0,
                "{}",
                "{}",
                event.timestamp.isoformat(),
            ),
        )

    def _update(self, tx: Transaction, event: EventRecord, sets: str, *values: object) -> None:
        if event.data["personal"] is None:
            return
        tx.execute(
            f"UPDATE {self.table('profiles')} SET {sets} WHERE user_id = ?",
            (*values, str(event.originator_id)),
        )

    @handles(User.NicknameChanged)
    def nickname_changed(self, tx: Transaction, event: EventRecord) -> None:
        self._update(tx, event, "nickname = ?", _personal(event, "nickname"))

    @handles(User.EmailChanged)
    def email_changed(self, tx: Transaction, event: EventRecord) -> None:
        email = _personal(event, "email")
        self._update(
            tx, event, "email = ?, email_key = ?, email_verified = 0", email, email.casefold()
        )

    @handles(User.PhoneChanged)
    def phone_changed(self, tx: Transaction, event: EventRecord) -> None:
        self._update(tx, event, "phone = ?, phone_verified = 0", _personal(event, "phone"))

    @handles(User.MediumVerified)
    def medium_verified(self, tx: Transaction, event: EventRecord) -> None:
        medium = {"email": "email", "phone": "phone"}[event.data["medium"]]
        if event.data["personal"] is None:
            return
        tx.execute(
            f"UPDATE {self.table('profiles')} SET {medium}_verified = 1"
            f" WHERE user_id = ? AND {medium} = ?",
            (str(event.originator_id), _personal(event, "value")),
        )

    @handles(User.DetailsChanged)
    def details_changed(self, tx: Transaction, event: EventRecord) -> None:
        row = tx.fetchone(
            f"SELECT details FROM {self.table('profiles')} WHERE user_id = ?",
            (str(event.originator_id),),
        )
        if row is not None and event.data["personal"] is not None:
            details = {**json.loads(row[0]), **_personal(event, "details")}
            self._update(tx, event, "details = ?", json.dumps(details, sort_keys=True))

    @handles(User.AvatarSet)
    def avatar_set(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"UPDATE {self.table('profiles')} SET avatar = ? WHERE user_id = ?",
            (json.dumps(event.data["files"], sort_keys=True), str(event.originator_id)),
        )

    @handles(User.Erased)
    def erased(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"DELETE FROM {self.table('profiles')} WHERE user_id = ?", (str(event.originator_id),)
        )


def _personal(event: EventRecord, name: str) -> Any:
    """Return one value of an event's personal data (None once its person was erased)."""
    personal = event.data["personal"]
    return None if personal is None else personal[name]
