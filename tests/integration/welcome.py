"""A projection with a side effect, for the rebuild and rollback tests: it 'mails' each
registered user once, into `SENT`, except while it replays."""

from __future__ import annotations

from domain.users import User
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord

SENT: list[int] = []


class Welcome(Projection):
    """A projection with a side effect: it 'mails' each registered user once."""

    name = "welcome"
    tables = {"sent": "uid BIGINT PRIMARY KEY"}
    has_side_effects = True

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(f"INSERT INTO {self.table('sent')} (uid) VALUES (?)", (event.data["uid"],))
        if not self.replay:
            SENT.append(event.data["uid"])
