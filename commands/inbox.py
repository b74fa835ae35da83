"""Commands on the inbox: a message to save with another command's change, delivering one from
the outbox, and reading one."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid5

from commands.application import Done, WriteApplication
from domain.errors import ERRORS, UpareError
from domain.inbox import Message
from domain.users import NAMESPACE


def message(uid: int, text: str, error_code: int = 0, about: int | None = None) -> Message:
    """Return a new message to `uid`, for the caller to save in its own transaction.

    Later commands (a friend's notification, a reminder, 204104) put one in `app.record`
    beside their own aggregates, so the message exists exactly when their change does.
    `about` is the uid of another user the text names (its text is sealed with their key).
    """
    if not text.strip():
        raise ValueError("a message needs a text")
    if error_code not in ERRORS:
        raise ValueError(f"{error_code} is not a code of api-faq.md")
    return Message.write(uid=uid, text=text, error_code=error_code, about=about)


@dataclass(frozen=True, kw_only=True)
class DeliverMessage:
    key: str  # the outbox row's idempotency key
    uid: int
    text: str
    about: int | None = None  # the uid of another user the text names


def delivered_id(key: str) -> UUID:
    """Return the id of the message that delivers the outbox row with this key."""
    return uuid5(NAMESPACE, f"outbox:{key}")


def deliver_message(command: DeliverMessage, *, app: WriteApplication) -> Done:
    """Save the message an outbox row holds, once: its id comes from the row's key.

    A second delivery of the row (a deliverer that died before recording the first, two
    deliverers on one row) finds the message stored and stores nothing; two at the same moment
    meet on the store's constraint, and the bus's rerun finds it stored.
    """
    message_id = delivered_id(command.key)
    if app.exists(message_id):
        return Done()
    sent = Message.write(uid=command.uid, text=command.text, about=command.about, id=message_id)
    return app.record(sent)


@dataclass(frozen=True, kw_only=True)
class ReadMessage:
    uid: int
    message_id: int  # the position of its `Sent` event, as the inbox shows it


def read_message(command: ReadMessage, *, app: WriteApplication) -> Done:
    """Mark a message of the caller's read (once: reading it again stores nothing).

    404 when there is no such message or it is someone else's: a client cannot tell which.
    """
    found = app.created_at(Message.Sent, command.message_id)
    if not isinstance(found, Message) or found.uid != command.uid:
        raise UpareError(404)
    if not found.unread:
        return Done()
    found.read()
    return app.record(found)
