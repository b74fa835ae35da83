"""`python -m tests.integration.outbox_upare deliverer`: the real deliverer, killed on cue.

With `UPARE_TEST_KILL=sent:KEY` the process SIGKILLs itself as soon as the mail server has
accepted the message KEY, before its outcome is recorded; with `recorded:KEY`, after the
outcome's UPDATE ran, before its COMMIT. Without it, this is the plain `upare` command.
"""

from __future__ import annotations

import os
import signal

from projections import outbox
from projections.database import Transaction
from upare.cli import main
from workers import deliverer
from workers.mailer import Mailer

KILL = os.environ.get("UPARE_TEST_KILL", "")


def die_at(point: str, key: str) -> None:
    if f"{point}:{key}" == KILL:
        os.kill(os.getpid(), signal.SIGKILL)


def send(self: Mailer, key: str, message: outbox.Message, _send=Mailer.send) -> None:
    _send(self, key, message)
    die_at("sent", key)


def record(
    tx: Transaction, outcome: deliverer.Outcome, policy: deliverer.Policy, _record=deliverer.record
) -> None:
    _record(tx, outcome, policy)
    die_at("recorded", outcome.key)


if __name__ == "__main__":
    Mailer.send = send  # type: ignore[method-assign]
    deliverer.record = record
    main()
