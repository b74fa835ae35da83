"""Deliver the outbox: send each queued message after its transaction committed, record how it went.

For one message at a time:
1. **claim**: one short transaction takes a due row (`pending`, or `sending` whose lease ran
   out), sets it `sending`, counts the attempt and leases it for `lease` seconds. On
   PostgreSQL `FOR UPDATE SKIP LOCKED` lets several deliverers share the outbox; on SQLite
   `BEGIN IMMEDIATE` serialises them.
2. **send** it through the sender of its channel (`Channels`: the mailer for mail and SMS,
   the command bus for inbox messages), outside any transaction.
3. **record**, in the transaction that claims the next message (or finds none): `sent` with
   the time; after a failure `pending` again, due `backoff * 2**(attempts - 1)` seconds
   later, or `failed` once `attempts` are spent, with the error. The policy is the one of
   the projection that queued the row (its key starts with the projection's name; the new
   friends' notices have UPARE_NOTIFY_*), else the deliverer's own (UPARE_DELIVERY_*). The
   update matches only its own claim (still `sending`, same attempt), so a deliverer whose
   lease ran out cannot overwrite a later attempt's outcome.

A deliverer killed between 2 and the commit of 3 leaves the row `sending`; when the lease runs
out another (or the restarted) deliverer sends it again. SMTP cannot tell whether it has a mail
already, so that one mail arrives twice, both copies with the same Message-ID; `file://` finds
its file and writes nothing (exactly once). A crash counts as an attempt.

The deliverer rides out outages: a mail server that fails fails one attempt of one message; a
read-model database that fails makes the loop wait (doubling, at most 5 s) and go on, keeping
an outcome it could not record to record it first.

`deliver_now` is for a message its sender waits on (register's code): it is queued and
claimed in one transaction, sent in the caller's process, and recorded like any other, so the
background deliverer only ever takes it up to retry it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from commands.inbox import DeliverMessage
from projections import outbox
from projections.database import ReadDB, Transaction
from upare.outages import RideOut
from upare.settings import Settings
from workers.mailer import Refused, Unavailable

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05  # look for due rows this often when idle (PostgreSQL also wakes on NOTIFY)
BATCH = 100  # messages delivered before looking at `stop` again


@dataclass(frozen=True)
class Policy:
    """How often and how patiently a message is sent, and how long a send may take."""

    attempts: int = 5
    backoff: float = 2.0  # seconds before the first retry, doubled before each next one
    lease: float = 120.0  # seconds a claimed message stays this deliverer's

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        """Return the policy the settings give (UPARE_DELIVERY_*)."""
        return cls(settings.delivery_attempts, settings.delivery_backoff, settings.delivery_lease)

    @classmethod
    def notify(cls, settings: Settings) -> Policy:
        """Return the policy of a new friend's notices (UPARE_NOTIFY_*)."""
        return cls(settings.notify_attempts, settings.notify_backoff, settings.delivery_lease)


class Sender(Protocol):
    def send(self, key: str, message: outbox.Message) -> None: ...


class Executes(Protocol):
    def execute(self, command: object) -> object: ...


class ToInbox:
    """Deliver inbox messages through the command bus (`commands.inbox.DeliverMessage`)."""

    def __init__(self, bus: Executes) -> None:
        self.bus = bus

    def send(self, key: str, message: outbox.Message) -> None:
        about = int(message.subject) if message.subject else None
        self.bus.execute(
            DeliverMessage(key=key, uid=int(message.to), text=message.body, about=about)
        )


class Channels:
    """Send each message through the sender of its channel."""

    def __init__(self, senders: Mapping[str, Sender]) -> None:
        self.senders = senders

    def send(self, key: str, message: outbox.Message) -> None:
        self.senders[message.channel].send(key, message)


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: `error` is empty when the message was handed over."""

    key: str
    attempt: int
    error: str = ""


CLAIM = (
    f"UPDATE {outbox.TABLE} SET status = ?, attempts = attempts + 1, next_attempt_at = ?"
    f" WHERE key = (SELECT key FROM {outbox.TABLE} WHERE {outbox.DUE} AND next_attempt_at <= ?"
    " {only}ORDER BY next_attempt_at LIMIT 1{lock})"
    f" RETURNING {outbox.FIELDS}"
)
RECORD = (
    f"UPDATE {outbox.TABLE} SET status = ?, next_attempt_at = ?, last_error = ?, sent_at = ?"
    " WHERE key = ? AND status = ? AND attempts = ?"
)


def claim(tx: Transaction, lease: float, key: str | None = None) -> outbox.Delivery | None:
    """Take the next due message (or the one with this key, if due) for `lease` seconds,
    counting the attempt; None if none."""
    claim_sql = CLAIM.format(lock=tx.skip_locked, only="AND key = ? " if key else "")
    params = (outbox.SENDING, outbox.now(lease), outbox.now(), *([key] if key else []))
    row = tx.fetchone(claim_sql, params)
    return None if row is None else outbox.from_row(row)


def record(tx: Transaction, outcome: Outcome, policy: Policy) -> None:
    """Record how an attempt went, unless the message was claimed again meanwhile."""
    status, due, sent_at = outbox.SENT, outbox.now(), None
    if not outcome.error:
        sent_at = due
    elif outcome.attempt >= policy.attempts:
        status = outbox.FAILED
    else:
        status, due = outbox.PENDING, outbox.now(policy.backoff * 2 ** (outcome.attempt - 1))
    tx.execute(
        RECORD,
        (status, due, outcome.error, sent_at, outcome.key, outbox.SENDING, outcome.attempt),
    )


class Deliverer:
    """Send the outbox's due messages through `sender` (a `Mailer`, or `Channels`) until stopped.

    `policies` gives the policy of the rows whose key starts with `<name>:`; the others
    have `policy`.
    """

    def __init__(
        self,
        db: ReadDB,
        sender: Sender,
        policy: Policy,
        policies: Mapping[str, Policy] | None = None,
    ) -> None:
        self.db = db
        self.sender = sender
        self.policy = policy
        self.policies = dict(policies or {})
        self.unrecorded: Outcome | None = None  # sent, but the database failed to record it

    def policy_of(self, key: str) -> Policy:
        """Return the policy of the row with this key: its projection's, else the default."""
        return self.policies.get(key.partition(":")[0], self.policy)

    def send(self, delivery: outbox.Delivery) -> Outcome:
        """Hand one claimed message to its sender; return the outcome, never raise."""
        try:
            self.sender.send(delivery.key, delivery.message)
        except Exception as ex:
            kind = "refused" if isinstance(ex, Refused) else "unavailable"
            if not isinstance(ex, Refused | Unavailable):
                log.exception("sending %s failed unexpectedly", delivery.key)
            log.warning("attempt %d of %s: %s: %s", delivery.attempts, delivery.key, kind, ex)
            return Outcome(delivery.key, delivery.attempts, f"{kind}: {ex}")
        return Outcome(delivery.key, delivery.attempts)

    def deliver_now(self, key: str, message: outbox.Message) -> Outcome:
        """Queue a message and send it at once, here; return how it went.

        It is claimed in the transaction that queues it, so no other deliverer sends it
        meanwhile; a failure is recorded as any other (retried later), and so is a crash (the
        lease runs out).
        """
        with self.db.transaction() as tx:
            outbox.put(tx, key, message)
            delivery = claim(tx, self.policy.lease, key)
        if delivery is None:  # queued and taken before (the key is not new): theirs to send
            return Outcome(key, 0)
        outcome = self.send(delivery)
        with self.db.transaction() as tx:
            record(tx, outcome, self.policy_of(key))
        return outcome

    def run_once(self) -> int:
        """Deliver up to BATCH due messages; return how many were tried.

        A message's outcome is recorded in the transaction that claims the next one (one
        transaction a message, not two): if it fails, neither happened, and the outcome is
        kept to be recorded first next time.
        """
        tried = 0
        while tried < BATCH:
            with self.db.transaction() as tx:
                if self.unrecorded is not None:
                    record(tx, self.unrecorded, self.policy_of(self.unrecorded.key))
                delivery = claim(tx, self.policy.lease)
            self.unrecorded = None  # committed with the claim: both happened, or neither
            if delivery is None:
                break
            self.unrecorded = self.send(delivery)
            tried += 1
        return tried

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set, woken by new rows (NOTIFY) or a short poll."""
        log.info("delivering the outbox")
        wakeup = self.db.wakeup(outbox.CHANNEL, POLL_SECONDS)
        outage = RideOut("deliverer", stop)
        while not stop.is_set():
            mark = wakeup.mark()
            with outage.step():
                tried = self.run_once()
                if not tried:
                    wakeup.wait(mark, POLL_SECONDS)
