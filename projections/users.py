"""The users read model: public profiles and the keys that tell whether a name is taken."""

from __future__ import annotations

from domain.users import User
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord


class UsersProjection(Projection):
    name = "users"
    tables = {
        "profiles": (
            "uid BIGINT PRIMARY KEY, username TEXT NOT NULL, username_key TEXT NOT NULL,"
            " nickname TEXT NOT NULL, email TEXT NOT NULL, email_key TEXT NOT NULL,"
            " registered_at TEXT NOT NULL"
        ),
    }
    indexes = {"profiles": ["username_key", "email_key"]}

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        data = event.data
        tx.execute(
            f"INSERT INTO {self.table('profiles')} (uid, username, username_key, nickname,"
            " email, email_key, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (uid) DO NOTHING",
            (
                data["uid"],
                data["username"],
                data["username"].casefold(),
                data["username"],
                data["email"],
                data["email"].strip().casefold(),
                event.timestamp.isoformat(),
            ),
        )
