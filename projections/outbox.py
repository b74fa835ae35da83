"""The outbox: mails, SMS and inbox messages to deliver, written in the transaction that
decided on them.

A projection queues a message with `Projection.send` in its read-model transaction, so the row
commits with its change or not at all; a command, which has no read-model transaction, uses
`enqueue`. Each row has an idempotency key derived from what caused it (`key`: the projection,
the aggregate, its version and a purpose, never the generation), inserted `ON CONFLICT DO
NOTHING`: a redelivered event, a retried batch or a rebuild's switch never queues it twice.

The deliverer (`workers.deliverer`) sends the rows after commit and records the outcome; it
only ever changes their delivery state. `status` tells anyone how a message fared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from projections.database import ReadDB, Transaction

TABLE = "outbox"
COLUMNS = (
    "key TEXT PRIMARY KEY, channel TEXT NOT NULL, recipient TEXT NOT NULL,"
    " subject TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,"
    " attempts INTEGER NOT NULL, next_attempt_at TEXT NOT NULL, last_error TEXT NOT NULL,"
    " created_at TEXT NOT NULL, sent_at TEXT"
)
CHANNEL = "upare_outbox"  # NOTIFY'd on PostgreSQL when a row is queued
MAIL, SMS, INBOX = "mail", "sms", "inbox"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# Rows a deliverer may take once `next_attempt_at` has come: `sending` ones are those whose
# deliverer's lease ran out (it died while sending). Literals, so the partial index applies.
DUE = f"status IN ('{PENDING}', '{SENDING}')"
FIELDS = (
    "key, channel, recipient, subject, body, status, attempts, next_attempt_at, last_error,"
    " created_at, sent_at"
)


@dataclass(frozen=True, kw_only=True)
class Message:
    """What to deliver: a mail (with a subject), an SMS (subject empty), or an inbox message
    (`to` is the recipient's uid; the deliverer saves it through a command; its `subject` is
    the uid of another user its text names, whose key seals the saved text, or empty)."""

    channel: str
    to: str
    body: str
    subject: str = ""


def mail(*, to: str, subject: str, body: str) -> Message:
    return Message(channel=MAIL, to=to, subject=subject, body=body)


def sms(*, to: str, body: str) -> Message:
    return Message(channel=SMS, to=to, body=body)


def inbox(*, uid: int, text: str, about: int | None = None) -> Message:
    return Message(
        channel=INBOX, to=str(uid), body=text, subject="" if about is None else str(about)
    )


@dataclass(frozen=True)
class Delivery:
    """One outbox row: the message and how its delivery went so far."""

    key: str
    message: Message
    status: str
    attempts: int
    next_attempt_at: str
    last_error: str  # "refused: ..." (the server said no) or "unavailable: ..." (try later)
    created_at: str
    sent_at: str | None

    @property
    def refused(self) -> bool:
        """Tell whether the last attempt was refused by the server (not merely unreachable)."""
        return self.last_error.startswith("refused")


def now(later: float = 0.0) -> str:
    """Return the time (or `later` seconds from now) as the outbox stores it: UTC ISO 8601.

    Always with microseconds and the same offset, so that times compare as strings.
    """
    return (datetime.now(UTC) + timedelta(seconds=later)).isoformat(timespec="microseconds")


def key(projection: str, originator_id: str, version: int, purpose: str) -> str:
    """Return the idempotency key of a message caused by one event."""
    return f"{projection}:{originator_id}:{version}:{purpose}"


def create(tx: Transaction) -> None:
    """Create the outbox table and the index of due rows if they are missing."""
    tx.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({COLUMNS})")
    tx.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_due ON {TABLE} (next_attempt_at) WHERE {DUE}")


def put(tx: Transaction, key: str, message: Message) -> bool:
    """Queue a message in this transaction; return False when its key was queued already."""
    at = now()
    inserted = tx.fetchone(
        f"INSERT INTO {TABLE} ({FIELDS}) VALUES (?, ?, ?, ?, ?, ?, 0, ?, '', ?, NULL)"
        " ON CONFLICT (key) DO NOTHING RETURNING key",
        (key, message.channel, message.to, message.subject, message.body, PENDING, at, at),
    )
    if inserted is not None:
        tx.notify(CHANNEL)  # delivered at commit, never for a rollback
    return inserted is not None


def enqueue(db: ReadDB, key: str, message: Message) -> bool:
    """Queue a message in a transaction of its own (for code outside a projection)."""
    with db.transaction() as tx:
        return put(tx, key, message)


def status(db: ReadDB, key: str) -> Delivery | None:
    """Return how the message with this key fared, or None when none was queued."""
    rows = _select(db, "key = ?", (key,))
    return rows[0] if rows else None


def listing(db: ReadDB, wanted: str | None = None) -> list[Delivery]:
    """Return the outbox rows (all, or those of one status), oldest first."""
    if wanted is None:
        return _select(db, "1 = 1", ())
    return _select(db, "status = ?", (wanted,))


def _select(db: ReadDB, where: str, params: tuple[object, ...]) -> list[Delivery]:
    rows = db.fetchall(f"SELECT {FIELDS} FROM {TABLE} WHERE {where} ORDER BY created_at", params)
    return [from_row(row) for row in rows]


def from_row(row: tuple[object, ...]) -> Delivery:
    key, channel, to, subject, body, state, attempts, due, error, created, sent = row
    return Delivery(
        key=str(key),
        message=Message(channel=str(channel), to=str(to), subject=str(subject), body=str(body)),
        status=str(state),
        attempts=int(attempts),  # type: ignore[call-overload]
        next_attempt_at=str(due),
        last_error=str(error),
        created_at=str(created),
        sent_at=None if sent is None else str(sent),
    )


def counts(db: ReadDB) -> dict[str, int]:
    """Return how many rows the outbox has in each status."""
    rows = db.fetchall(f"SELECT status, count(*) FROM {TABLE} GROUP BY status")
    return {str(row[0]): int(row[1]) for row in rows}


def forget(tx: Transaction, recipients: list[str]) -> None:
    """Delete every message to these addresses, sent or not (an erased person's: they leave
    no address or code behind)."""
    condition, params = tx.among("recipient", recipients)
    tx.execute(f"DELETE FROM {TABLE} WHERE {condition}", params)
