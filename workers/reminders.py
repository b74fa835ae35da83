"""The reminder scheduler: turn every `remind_at` that has passed into an inbox message, once.

The calendar read model proposes the due reminders (`queries.calendar.due_reminders`); for
each, `SendReminder` asks the aggregate, which decides and saves `Reminded` with the message in
one transaction. So a reminder is sent once whatever happens around it: a scheduler restarted
between its command and the read model catching up proposes it again and stores nothing; two
schedulers proposing it together save one (the other's rerun finds it sent).

Between passes it waits for the read model to show what it sent (so it does not propose it
again), then sleeps until the next reminder falls due, woken early by the projections'
progress (NOTIFY on PostgreSQL, a short poll on SQLite), so a new reminder that is already due
goes out at once. It rides out outages as the other workers do (`upare.outages.RideOut`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from commands.calendar import SendReminder
from commands.handlers import Bus
from domain.calendar import iso
from projections.database import ReadDB
from queries import calendar
from queries.freshness import wait_for
from upare.outages import RideOut

log = logging.getLogger(__name__)
BATCH = 100  # reminders sent before the read model is asked again
POLL_SECONDS = 0.1  # SQLite: look for new reminders this often (PostgreSQL wakes on NOTIFY)
IDLE_SECONDS = 1.0  # the longest sleep between two looks, whenever the next reminder is due
CATCH_UP_SECONDS = 5.0  # how long to wait for the read model to show the reminders just sent


class Reminders:
    """Send the calendar's due reminders through the command bus until stopped."""

    def __init__(
        self,
        db: ReadDB,
        bus: Bus,
        clock: Callable[[], datetime],
        catch_up: float = CATCH_UP_SECONDS,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.catch_up = catch_up
        self.wakeup = db.wakeup(poll=POLL_SECONDS)

    def run_once(self) -> int:
        """Send the reminders due now (up to BATCH); return how many were sent."""
        sent, last = 0, 0
        for todo_id in calendar.due_reminders(self.db, iso(self.clock()), BATCH):
            done = self.bus.execute(SendReminder(todo_id=todo_id))
            if done.position:
                sent, last = sent + 1, done.position
        if last and not wait_for(self.db, ["calendar"], last, self.catch_up, self.wakeup):
            log.warning("the calendar read model is behind; its reminders are proposed again")
        return sent

    def idle(self) -> float:
        """Return how long to sleep: until the next reminder falls due, IDLE_SECONDS at most."""
        now = self.clock()
        due = calendar.next_reminder(self.db, iso(now))
        if due is None:
            return IDLE_SECONDS
        return max(0.0, min(IDLE_SECONDS, (datetime.fromisoformat(due) - now).total_seconds()))

    def run(self, stop: threading.Event) -> None:
        """Send reminders until `stop` is set."""
        log.info("sending reminders")
        outage = RideOut("reminders", stop)
        while not stop.is_set():
            mark = self.wakeup.mark()
            with outage.step():
                if not self.run_once():
                    self.wakeup.wait(mark, self.idle())
