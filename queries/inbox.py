"""Queries on a user's inbox, answered from the messages read model."""

from __future__ import annotations

from typing import Any

from projections.database import ReadDB, Row
from projections.inbox import InboxProjection

INBOX = InboxProjection.view("inbox")
COLUMNS = "id, text, error_code, unread, sent_at"


def _message(row: Row) -> dict[str, Any]:
    message_id, text, error_code, unread, sent_at = row
    return {
        "id": message_id,
        "text": text,
        "error_code": error_code,
        "read": not unread,
        "sent_at": sent_at,
    }


def messages(db: ReadDB, uid: int, page: int, per_page: int) -> dict[str, Any]:
    """Return one page of a user's messages, newest first, with how many there are and how
    many of them are unread."""
    with db.transaction(write=False) as tx:
        total, unread = tx.fetchone(
            f"SELECT COUNT(*), COALESCE(SUM(unread), 0) FROM {INBOX} WHERE uid = ?", (uid,)
        ) or (0, 0)
        rows = tx.fetchall(
            f"SELECT {COLUMNS} FROM {INBOX} WHERE uid = ? ORDER BY id DESC LIMIT ? OFFSET ?",
            (uid, per_page, (page - 1) * per_page),
        )
    return {
        "messages": [_message(row) for row in rows],
        "unread": int(unread),
        "total": int(total),
        "page": page,
        "per_page": per_page,
    }


def message(db: ReadDB, uid: int, message_id: int) -> dict[str, Any] | None:
    """Return one of a user's messages, or None when it is not theirs or not there (yet)."""
    row = db.fetchone(f"SELECT {COLUMNS} FROM {INBOX} WHERE id = ? AND uid = ?", (message_id, uid))
    return None if row is None else _message(row)
