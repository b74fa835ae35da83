"""The deliverer and a real SMTP server, on each backend: sends, retries, fails, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
import pytest

from projections import outbox
from tests.integration.fleet import ROOT, Fleet
from tests.integration.smtp import Inbox, SmtpServer
from upare.bootstrap import bootstrap
from upare.settings import Settings
from workers import deliverer as deliverer_module
from workers.deliverer import Deliverer, Policy
from workers.mailer import Mailer, message_id

SENDER = "Upare <no-reply@upare.test>"


def until(condition: Callable[[], bool], timeout: float = 15.0, why: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached in {timeout} s: {why}")
        time.sleep(0.02)


def queue_mails(container, count: int, tag: str = "hello") -> list[str]:
    keys = [f"test:{tag}:{number}:mail" for number in range(count)]
    for number, key in enumerate(keys):
        message = outbox.mail(to=f"u{number}@x.io", subject=f"{tag} {number}", body="Hi!")
        outbox.enqueue(container.db, key, message)
    return keys


def statuses(container, keys: list[str]) -> list[str]:
    return [outbox.status(container.db, key).status for key in keys]  # type: ignore[union-attr]


@contextmanager
def delivering(container, url: str, policy: Policy) -> Iterator[Deliverer]:
    """Run a deliverer in a thread, sending mail to `url`, until the block ends."""
    deliverer = Deliverer(container.db, Mailer(url, "console://", SENDER), policy)
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run, args=(stop,))
    thread.start()
    try:
        yield deliverer
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_deliverer_sends_every_queued_mail_once_with_its_key_as_message_id(container):
    keys = queue_mails(container, 20)
    with SmtpServer() as server, delivering(container, server.url, Policy()):
        until(lambda: statuses(container, keys) == ["sent"] * 20, why="all sent")

    assert server.inbox.message_ids() == Counter({message_id(key): 1 for key in keys})
    first = outbox.status(container.db, keys[0])
    assert first is not None and (first.attempts, first.last_error) == (1, "")
    assert first.sent_at is not None and first.created_at <= first.sent_at
    assert server.inbox.mails[0]["To"] == "u0@x.io"


def test_a_mail_queued_while_the_deliverer_waits_goes_out_at_once(container):
    with SmtpServer() as server, delivering(container, server.url, Policy()):
        time.sleep(0.2)  # idle now
        started = time.monotonic()
        (key,) = queue_mails(container, 1)
        until(lambda: statuses(container, [key]) == ["sent"], why="sent")
        assert time.monotonic() - started < 1.0


def test_mails_queued_while_the_server_is_down_go_out_when_it_comes_up(container):
    server = SmtpServer()  # its port is chosen, nothing listens on it yet
    keys = queue_mails(container, 3)
    policy = Policy(attempts=20, backoff=0.05)
    with delivering(container, server.url, policy):
        until(
            lambda: all(outbox.status(container.db, key).attempts >= 2 for key in keys),  # type: ignore[union-attr]
            why="retried",
        )
        waiting = outbox.status(container.db, keys[0])
        assert waiting is not None and waiting.status == "pending"
        assert waiting.last_error.startswith("unavailable: ")
        assert not waiting.refused
        with server:
            until(lambda: statuses(container, keys) == ["sent"] * 3, why="all sent")

    assert server.inbox.message_ids() == Counter({message_id(key): 1 for key in keys})


def test_mails_a_server_keeps_refusing_end_failed_with_its_answer(container):
    keys = queue_mails(container, 2)
    policy = Policy(attempts=3, backoff=0.02)
    with SmtpServer(Inbox(refuse=True)) as server, delivering(container, server.url, policy):
        until(lambda: statuses(container, keys) == ["failed"] * 2, why="failed")

    failed = outbox.status(container.db, keys[0])
    assert failed is not None and failed.attempts == 3 and failed.sent_at is None
    assert failed.last_error.startswith("refused: 550 5.1.1 no such mailbox here")
    assert failed.refused
    assert server.inbox.mails == []


@pytest.mark.postgres
def test_the_deliverer_rides_out_a_database_that_goes_away(postgres_server, postgres_url, tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=postgres_url)
    name = postgres_url.rsplit("/", 1)[1]
    with (
        bootstrap(settings) as container,
        SmtpServer() as server,
        delivering(container, server.url, Policy()),
    ):
        before = queue_mails(container, 1, "before")
        until(lambda: statuses(container, before) == ["sent"], why="sent before")
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            time.sleep(0.5)  # the deliverer finds its connections gone, and no new ones
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        with bootstrap(settings) as again:
            after = queue_mails(again, 2, "after")
            until(lambda: statuses(again, after) == ["sent"] * 2, why="sent after")

    assert server.inbox.message_ids() == Counter({message_id(key): 1 for key in before + after})


def seconds_until(moment: str) -> float:
    return (datetime.fromisoformat(moment) - datetime.fromisoformat(outbox.now())).total_seconds()


def test_each_retry_waits_twice_as_long_as_the_one_before(container):
    (key,) = queue_mails(container, 1)
    with SmtpServer(Inbox(refuse=True)) as server:
        deliverer = Deliverer(container.db, Mailer(server.url, "console://", SENDER), Policy())
        waits = []
        for _ in range(3):
            assert deliverer.run_once() == 1
            assert deliverer.run_once() == 0  # the outcome is recorded; not due yet
            waits.append(seconds_until(outbox.status(container.db, key).next_attempt_at))  # type: ignore[union-attr]
            with container.db.transaction() as tx:  # let the time pass
                tx.execute(
                    "UPDATE outbox SET next_attempt_at = ? WHERE key = ?", (outbox.now(), key)
                )

    assert [round(wait) for wait in waits] == [2, 4, 8]  # UPARE_DELIVERY_BACKOFF's default: 2 s


def run_deliverer(settings, server: SmtpServer, **env: str) -> subprocess.Popen[bytes]:
    """Start `upare deliverer` (killable on cue) as a process of its own."""
    env = {
        **os.environ,
        "UPARE_DATA_DIR": str(settings.data_dir),
        "UPARE_DATABASE_URL": settings.database_url,
        "UPARE_MAIL_URL": server.url,
        "UPARE_DELIVERY_LEASE": "0.5",
        "UPARE_DELIVERY_BACKOFF": "0.05",
        **env,
    }
    command = [sys.executable, "-m", "tests.integration.outbox_upare", "deliverer"]
    with open(settings.data_dir / "deliverer.log", "ab") as log:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)


@pytest.mark.parametrize("point", ["sent", "recorded"])
def test_a_deliverer_killed_between_send_and_commit_sends_only_that_mail_twice(container, point):
    keys = queue_mails(container, 5)
    victim = keys[2]
    with SmtpServer() as server:
        killed = run_deliverer(container.settings, server, UPARE_TEST_KILL=f"{point}:{victim}")
        assert killed.wait(timeout=30) == -signal.SIGKILL
        assert statuses(container, keys[:3]) == ["sent", "sent", "sending"]
        assert server.inbox.message_ids()[message_id(victim)] == 1

        restarted = run_deliverer(container.settings, server)
        until(lambda: statuses(container, keys) == ["sent"] * 5, why="all sent")
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=20) == 0

    expected = Counter({message_id(key): 1 for key in keys})
    expected[message_id(victim)] = 2  # SMTP cannot say whether it had the mail already
    assert server.inbox.message_ids() == expected
    assert outbox.status(container.db, victim).attempts == 2  # type: ignore[union-attr]


def test_upare_worker_delivers_the_outbox_beside_the_projections(container, tmp_path):
    env = {
        "UPARE_DATA_DIR": str(container.settings.data_dir),
        "UPARE_DATABASE_URL": container.settings.database_url,
        "UPARE_MAIL_URL": f"file://{tmp_path}/mail",
    }
    fleet = Fleet(env, tmp_path)
    fleet.start("worker", "worker", tally=False)
    try:
        (key,) = queue_mails(container, 1)
        until(lambda: statuses(container, [key]) == ["sent"], why=fleet.tails())
    finally:
        assert fleet.stop() == {"worker": 0}, fleet.tails()
    assert [path.name for path in (tmp_path / "mail").iterdir()] == [f"{key}.eml"]


def test_a_message_delivered_at_once_is_never_sent_again_by_the_deliverer(container):
    with SmtpServer() as server:
        deliverer = Deliverer(container.db, Mailer(server.url, "console://", SENDER), Policy())
        message = outbox.mail(to="now@x.io", subject="now", body="Hi!")
        outcome = deliverer.deliver_now("test:now:1:mail", message)
        assert (outcome.attempt, outcome.error) == (1, "")
        assert deliverer.run_once() == 0

    sent = outbox.status(container.db, "test:now:1:mail")
    assert sent is not None and (sent.status, sent.attempts) == ("sent", 1)
    assert server.inbox.message_ids() == Counter({message_id("test:now:1:mail"): 1})


def test_a_message_that_failed_at_once_is_retried_by_the_deliverer(container):
    inbox = Inbox(refuse=True)
    with SmtpServer(inbox) as server:
        deliverer = Deliverer(container.db, Mailer(server.url, "console://", SENDER), Policy())
        message = outbox.mail(to="later@x.io", subject="later", body="Hi!")
        outcome = deliverer.deliver_now("test:later:1:mail", message)
        assert outcome.error.startswith("refused: 550")
        assert deliverer.run_once() == 0  # not due before its backoff
        inbox.refuse = False
        with container.db.transaction() as tx:  # let the backoff pass
            tx.execute("UPDATE outbox SET next_attempt_at = ?", (outbox.now(),))
        assert deliverer.run_once() == 1

    sent = outbox.status(container.db, "test:later:1:mail")
    assert sent is not None and (sent.status, sent.attempts) == ("sent", 2)
    assert len(server.inbox.mails) == 1


class Handed:
    """A sender that keeps the keys it was handed, in order."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def send(self, key: str, message: outbox.Message) -> None:
        self.keys.append(key)


def counting_transactions(container, monkeypatch) -> list[int]:
    opened = [0]
    transaction = container.db.transaction

    def counted(*args, **kwargs):
        opened[0] += 1
        return transaction(*args, **kwargs)

    monkeypatch.setattr(container.db, "transaction", counted)
    return opened


def test_each_outcome_commits_with_the_next_claim_one_transaction_a_message(container, monkeypatch):
    keys = queue_mails(container, 3)
    sender = Handed()
    opened = counting_transactions(container, monkeypatch)
    assert Deliverer(container.db, sender, Policy()).run_once() == 3
    assert opened == [4]  # three claims, each recording the one before; the last finds none
    assert statuses(container, keys) == ["sent"] * 3
    assert sender.keys == keys


def test_an_outcome_whose_transaction_failed_is_recorded_first_and_never_resent(
    container, monkeypatch
):
    keys = queue_mails(container, 3)
    sender = Handed()
    deliverer = Deliverer(container.db, sender, Policy())
    claim, claims = deliverer_module.claim, [0]

    def failing_second(tx, lease, key=None):
        claims[0] += 1
        if claims[0] == 2:  # the transaction recording the first message's outcome fails
            raise OSError("the database went away")
        return claim(tx, lease, key)

    monkeypatch.setattr(deliverer_module, "claim", failing_second)
    with pytest.raises(OSError):
        deliverer.run_once()
    assert statuses(container, keys) == ["sending", "pending", "pending"]  # rolled back
    assert deliverer.run_once() == 2

    assert statuses(container, keys) == ["sent"] * 3
    assert sender.keys == keys  # each handed over once
