"""The notifier's outcomes: turn how a new friend's notice was delivered into the friendship's
event (`FriendNotified`, or `FriendNotificationFailed` with the maker's 204104 message).

`projections.notices` keeps one row per friendship round with the outbox keys of the friend's
inbox message and mail; the deliverer sends those rows with UPARE_NOTIFY_* retries. This loop
looks at the open rounds and their outbox rows:
- the inbox message sent, and the mail too where one was queued: notified;
- any of them failed after its retries, or nothing could be queued (`reason`): failed;
- no inbox row at all: the round was built from history by a rebuild, which queues nothing,
  so there is no outcome to wait for.

Each outcome is recorded through a command (`commands.notices`) that stores it once per round,
so a repeated look, a restarted notifier or two notifiers at once record it once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from uuid import UUID

from commands.notices import RecordFriendNotified, RecordNotificationFailed
from projections import outbox
from projections.database import ReadDB
from projections.notices import PENDING, NoticesProjection
from upare.outages import RideOut
from workers.deliverer import Executes

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1  # look at the open rounds this often
ROUNDS = NoticesProjection.view("rounds")
OPEN_ROUNDS = (
    "SELECT r.friendship_id, r.round, r.reason, i.status, i.last_error, m.status, m.last_error"
    f" FROM {ROUNDS} r LEFT JOIN {outbox.TABLE} i ON i.key = r.inbox_key"
    f" LEFT JOIN {outbox.TABLE} m ON m.key = r.mail_key"
    " WHERE r.status = ? AND (r.reason <> '' OR i.status IN (?, ?) OR m.status = ?)"
)


@dataclass(frozen=True)
class Outcome:
    """How one round's notice ended: `reason` is empty when the friend was notified."""

    friendship_id: UUID
    round: int
    reason: str = ""


def outcomes(db: ReadDB) -> list[Outcome]:
    """Return the outcomes of the open rounds whose delivery has ended."""
    rows = db.fetchall(OPEN_ROUNDS, (PENDING, outbox.SENT, outbox.FAILED, outbox.FAILED))
    found = []
    for friendship_id, round, reason, inbox, inbox_error, mail, mail_error in rows:
        if reason:
            found.append(Outcome(UUID(friendship_id), int(round), reason))
        elif outbox.FAILED in (inbox, mail):
            error = inbox_error if inbox == outbox.FAILED else mail_error
            channel = "inbox" if inbox == outbox.FAILED else "mail"
            found.append(Outcome(UUID(friendship_id), int(round), f"{channel}: {error}"))
        elif inbox == outbox.SENT and mail in (None, outbox.SENT):
            found.append(Outcome(UUID(friendship_id), int(round)))
    return found


class Notifier:
    """Record the outcome of every notice whose delivery ended, until stopped."""

    def __init__(self, db: ReadDB, bus: Executes) -> None:
        self.db = db
        self.bus = bus
        self.recorded: set[Outcome] = set()  # until the notices read model closes them

    def run_once(self) -> int:
        """Record the outcomes found now; return how many were new to this notifier."""
        found = outcomes(self.db)
        self.recorded &= set(found)
        new = [outcome for outcome in found if outcome not in self.recorded]
        for outcome in new:
            if outcome.reason:
                log.warning("could not notify the friend of %s: %s", outcome, outcome.reason)
                self.bus.execute(
                    RecordNotificationFailed(
                        friendship_id=outcome.friendship_id,
                        round=outcome.round,
                        reason=outcome.reason,
                    )
                )
            else:
                self.bus.execute(
                    RecordFriendNotified(friendship_id=outcome.friendship_id, round=outcome.round)
                )
            self.recorded.add(outcome)
        return len(new)

    def run(self, stop: threading.Event) -> None:
        """Look for ended deliveries every POLL_SECONDS until `stop` is set."""
        log.info("recording the outcomes of new friends' notices")
        outage = RideOut("notifier", stop)
        while not stop.is_set():
            with outage.step():
                if not self.run_once():
                    stop.wait(POLL_SECONDS)
