"""The messages read model: every user's inbox."""

from __future__ import annotations

from domain.inbox import Message
from domain.users import User
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord


class InboxProjection(Projection):
    """One row per message. `id` is the global position of the message's `Sent` event, the
    id clients see: the log gives it, so a rebuild gives every message the same id again.
    `unread` is 1 or 0; `sent_at` is ISO 8601 UTC. `about` is the id of the user whose key
    seals the text (the one it names, else the recipient). An erased person's inbox goes, and
    so do the messages about them in others' inboxes; a message whose text reads as erased is
    not shown."""

    name = "messages"
    version = 3
    tables = {
        "inbox": (
            "id BIGINT PRIMARY KEY, message_id TEXT NOT NULL, uid BIGINT NOT NULL,"
            " text TEXT NOT NULL, error_code INTEGER NOT NULL, unread INTEGER NOT NULL,"
            " sent_at TEXT NOT NULL, about TEXT NOT NULL"
        ),
    }
    indexes = {"inbox": ["message_id", "uid, id", "about"]}

    @handles(Message.Sent)
    def sent(self, tx: Transaction, event: EventRecord) -> None:
        data = event.data
        if data["personal"] is None:
            return  # its recipient or the user it names was erased
        tx.execute(
            f"INSERT INTO {self.table('inbox')} (id, message_id, uid, text, error_code, unread,"
            " sent_at, about) VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                event.position,
                event.originator_id,
                data["uid"],
                data["personal"]["text"],
                data["error_code"],
                event.timestamp.isoformat(),
                str(data["person"]),
            ),
        )

    @handles(Message.Read)
    def read(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"UPDATE {self.table('inbox')} SET unread = 0 WHERE message_id = ?",
            (event.originator_id,),
        )

    @handles(User.Erased)
    def erased(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"DELETE FROM {self.table('inbox')} WHERE uid = ? OR about = ?",
            (event.data["uid"], event.originator_id),
        )
