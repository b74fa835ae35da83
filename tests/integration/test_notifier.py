"""The notification worker on SQLite and on PostgreSQL, with a real SMTP server: a new friend
gets one inbox message and one mail; a server that refuses or is down ends in 204104 for the
maker; redelivered events, a restarted notifier and a rebuild send no second mail."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from uuid import UUID

import pytest

from commands.inbox import DeliverMessage
from commands.notices import RecordNotificationFailed
from commands.users import RegisterUser, load_user
from domain.friends import NOTIFY_FAILED, Friendship, friendship_id
from projections import catalog, outbox
from projections.notices import NoticesProjection
from projections.watermark import watermark
from queries import inbox
from tests.integration.fleet import Fleet
from tests.integration.smtp import Inbox, SmtpServer
from upare.bootstrap import Container, bootstrap
from upare.cli_outbox import build_deliverer
from upare.settings import Settings
from workers.mailer import message_id
from workers.notifier import Notifier
from workers.store_feed import StoreFeed


def register(settings: Settings, *usernames: str, verified: bool = True) -> list[int]:
    """Register users through the bus (their codes mailed to files); with `verified`, verify
    their emails too."""
    uids = []
    with bootstrap(settings) as container:
        for username in usernames:
            email = f"{username}@example.com"
            command = RegisterUser(username=username, password="correct horse", email=email)
            uid: int = container.bus.execute(command).fields["uid"]
            if verified:
                user = load_user(container.app, uid)
                user.verify("email", email)
                container.app.record(user)
            uids.append(uid)
    return uids


def befriend(container: Container, maker: int, friend: int) -> UUID:
    """Make a friendship through the write application (the friends commands are part A's)."""
    friendship = Friendship.make(maker, friend)
    container.app.record(friendship)
    return friendship.id


class Pipeline:
    """The embedded workers, a step at a time: read models, notices, deliverer, outcomes."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.feeds = [
            StoreFeed(container.log, container.db, container.projections),
            StoreFeed(container.log, container.db, container.notifier_projections),
        ]
        self.deliver = build_deliverer(container)
        self.notifier = Notifier(container.db, container.bus)

    def step(self) -> int:
        done = sum(feed.run_once() for feed in self.feeds)
        return done + self.deliver.run_once() + self.notifier.run_once()

    def until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Run until `condition` holds, then until the read models have what came of it."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"not in {timeout} s; {outbox.listing(self.container.db)}")
            if not self.step():
                time.sleep(0.01)
        self.settle()

    def settle(self) -> None:
        """Run until a round of every worker does nothing."""
        while self.step():
            pass


def outcome(container: Container, fid: UUID) -> str | None:
    friendship: Friendship = container.app.repository.get(fid)
    return friendship.outcome


def messages(container: Container, uid: int) -> list[dict]:
    return inbox.messages(container.db, uid, 1, 100)["messages"]


def texts(container: Container, uid: int) -> list[tuple[str, int]]:
    """Return the texts and codes of a user's messages, newest first, but the welcome."""
    found = [(item["text"], item["error_code"]) for item in messages(container, uid)]
    return [item for item in found if not item[0].startswith("Welcome")]


@contextmanager
def wired(settings: Settings, mail_url: str, **changes: object) -> Iterator[Container]:
    tuned = replace(settings, mail_url=mail_url, notify_backoff=0.02, **changes)
    with bootstrap(tuned) as container:
        yield container


def test_a_new_friend_gets_one_inbox_message_and_one_mail(settings):
    alice, bob = register(settings, "alice", "bob")
    with SmtpServer() as server, wired(settings, server.url) as container:
        fid = befriend(container, alice, bob)
        pipeline = Pipeline(container)
        pipeline.until(lambda: outcome(container, fid) == "notified")

        assert texts(container, bob) == [("alice is now your friend", 0)]
        assert texts(container, alice) == []
        notices = server.inbox.mails
        assert [(mail["To"], mail["Subject"]) for mail in notices] == [
            ("bob@example.com", "You have a new friend on Upare")
        ]
        assert "alice (uid" in notices[0].get_content()
        row = container.db.fetchone("SELECT status FROM notices_rounds")
        assert row is not None and row[0] == "notified"


def test_a_friend_without_a_verified_email_gets_the_inbox_message_and_no_mail(settings):
    alice, bob = register(settings, "alice") + register(settings, "bob", verified=False)
    with SmtpServer() as server, wired(settings, server.url) as container:
        fid = befriend(container, alice, bob)
        Pipeline(container).until(lambda: outcome(container, fid) == "notified")

        assert texts(container, bob) == [("alice is now your friend", 0)]
        assert server.inbox.mails == []


@pytest.mark.parametrize("server_state", ["refusing", "down"])
def test_a_mail_server_that_refuses_or_is_down_ends_in_204104_for_the_maker(settings, server_state):
    alice, bob = register(settings, "alice", "bob")
    server = SmtpServer(Inbox(refuse=server_state == "refusing"))
    with wired(settings, server.url) as container:
        fid = befriend(container, alice, bob)
        if server_state == "refusing":
            server.start()
        try:
            Pipeline(container).until(lambda: outcome(container, fid) == "failed")
        finally:
            server.stop()

        assert texts(container, alice) == [(NOTIFY_FAILED, 204104)]
        assert texts(container, bob) == [("alice is now your friend", 0)]  # the inbox worked
        mail = outbox.status(container.db, f"notices:{fid}:1:mail")
        assert mail is not None and mail.status == "failed"
        assert mail.attempts == 3  # UPARE_NOTIFY_ATTEMPTS, not UPARE_DELIVERY_ATTEMPTS (5)
        assert mail.last_error.startswith("refused" if server_state == "refusing" else "unavail")
        assert server.inbox.mails == []


def test_notify_attempts_and_backoff_are_read_and_checked():
    defaults = Settings.from_env({})
    assert (defaults.notify_attempts, defaults.notify_backoff) == (3, 2.0)
    tuned = Settings.from_env({"UPARE_NOTIFY_ATTEMPTS": "5", "UPARE_NOTIFY_BACKOFF": "0.5"})
    assert (tuned.notify_attempts, tuned.notify_backoff) == (5, 0.5)
    with pytest.raises(SystemExit, match="UPARE_NOTIFY_ATTEMPTS"):
        Settings.from_env({"UPARE_NOTIFY_ATTEMPTS": "0"})
    with pytest.raises(SystemExit, match="UPARE_NOTIFY_BACKOFF"):
        Settings.from_env({"UPARE_NOTIFY_BACKOFF": "-1"})


def test_a_redelivered_friendship_event_sends_no_second_mail(settings):
    alice, bob = register(settings, "alice", "bob")
    with SmtpServer() as server, wired(settings, server.url) as container:
        fid = befriend(container, alice, bob)
        pipeline = Pipeline(container)
        pipeline.until(lambda: outcome(container, fid) == "notified")
        (made,) = [e for e in container.log.read(0, 1000) if e.originator_id == str(fid)][:1]
        with container.db.transaction() as tx:  # the same event again, past the tracking
            NoticesProjection(catalog.lock_live(tx, "notices")).apply(tx, made)
        pipeline.settle()

        assert server.inbox.message_ids()[message_id(f"notices:{fid}:1:mail")] == 1
        assert texts(container, bob) == [("alice is now your friend", 0)]


def test_a_new_round_of_an_ended_friendship_notifies_again(settings):
    alice, bob = register(settings, "alice", "bob")
    with SmtpServer() as server, wired(settings, server.url) as container:
        fid = befriend(container, alice, bob)
        pipeline = Pipeline(container)
        pipeline.until(lambda: outcome(container, fid) == "notified")
        friendship: Friendship = container.app.repository.get(fid)
        friendship.end(bob)
        friendship.make_again(bob)
        container.app.record(friendship)
        pipeline.until(lambda: outcome(container, fid) == "notified")

        assert texts(container, alice) == [("bob is now your friend", 0)]
        assert [mail["To"] for mail in server.inbox.mails] == [
            "bob@example.com",
            "alice@example.com",
        ]


def test_notices_wait_for_the_users_read_model(settings):
    alice, bob = register(settings, "alice", "bob")
    with wired(settings, "console://") as container:
        befriend(container, alice, bob)
        notices = StoreFeed(container.log, container.db, container.notifier_projections)
        while notices.run_once():
            pass
        assert watermark(container.db, "notices") == 0  # the users model has not passed it
        assert outbox.listing(container.db, outbox.PENDING) == []

        StoreFeed(container.log, container.db, container.projections).run_once()
        notices.run_once()
        assert watermark(container.db, "notices") == container.log.head()
        assert [row.message.channel for row in outbox.listing(container.db, outbox.PENDING)] == [
            "inbox",
            "mail",
        ]


def test_a_profile_missing_after_the_users_model_passed_fails_the_notification(settings):
    (alice,) = register(settings, "alice")
    with wired(settings, "console://") as container:
        fid = befriend(container, alice, 99999)  # no such user: no profile to read
        Pipeline(container).until(lambda: outcome(container, fid) == "failed")

        assert texts(container, alice) == [(NOTIFY_FAILED, 204104)]
        assert outbox.listing(container.db, outbox.PENDING) == []


def test_an_inbox_row_delivered_twice_stores_one_message(settings):
    (bob,) = register(settings, "bob")
    with wired(settings, "console://") as container:
        command = DeliverMessage(key="notices:x:1:inbox", uid=bob, text="hi")
        first = container.bus.execute(command)
        again = container.bus.execute(command)
        other = bootstrap(container.settings)  # a second deliverer, at the same moment
        try:
            start = threading.Barrier(2)
            done = []

            def deliver(wired_: Container) -> None:
                start.wait()
                done.append(wired_.bus.execute(replace(command, key="notices:y:1:inbox")))

            threads = [threading.Thread(target=deliver, args=(c,)) for c in (container, other)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            other.close()
        Pipeline(container).settle()

        assert first.position is not None and again.position is None
        assert sorted(d.position is None for d in done) == [False, True]
        assert texts(container, bob) == [("hi", 0), ("hi", 0)]


def test_a_repeated_or_concurrent_outcome_is_recorded_once(settings):
    alice, bob = register(settings, "alice", "bob")
    with wired(settings, "console://") as container:
        fid = befriend(container, alice, bob)
        command = RecordNotificationFailed(friendship_id=fid, round=1, reason="test")
        buses = [bootstrap(container.settings) for _ in range(4)]
        try:
            start = threading.Barrier(len(buses))

            def record(wired_: Container) -> None:
                start.wait()
                wired_.bus.execute(command)

            threads = [threading.Thread(target=record, args=(c,)) for c in buses]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for wired_ in buses:
                wired_.close()
        assert container.bus.execute(command).position is None  # and once more, later
        Pipeline(container).settle()

        events = [e.type for e in container.log.read(0, 1000) if e.originator_id == str(fid)]
        assert events == ["Friendship.Made", "Friendship.FriendNotificationFailed"]
        assert texts(container, alice) == [(NOTIFY_FAILED, 204104)]


def test_a_rebuild_of_the_notices_sends_nothing(settings, cli):
    alice, bob, carol = register(settings, "alice", "bob", "carol")
    with SmtpServer() as server, wired(settings, server.url) as container:
        notified = befriend(container, alice, bob)
        pipeline = Pipeline(container)
        pipeline.until(lambda: outcome(container, notified) == "notified")
        befriend(container, alice, carol)  # known to the notices, not delivered yet
        pipeline.feeds[0].run_once()
        pipeline.feeds[1].run_once()
        queued = outbox.listing(container.db)
        mails = len(server.inbox.mails)

        output = cli("projections", "rebuild", "notices")

        assert "notices: generation 2 is live" in output
        assert "notices" in cli("projections", "status")
        assert outbox.listing(container.db) == queued
        rows = container.db.fetchall("SELECT round, status FROM notices_rounds ORDER BY friend")
        assert [tuple(row) for row in rows] == [(1, "notified"), (1, "pending")]
        pipeline.settle()  # the rebuilt rounds still wait for their (live) deliveries
        assert outcome(container, friendship_id(alice, carol)) == "notified"
        assert len(server.inbox.mails) == mails + 1


def test_a_restarted_notifier_sends_no_second_mail(settings, tmp_path):
    alice, bob = register(settings, "alice", "bob")
    with SmtpServer() as server, wired(settings, server.url) as container:
        StoreFeed(container.log, container.db, container.projections).run_once()
        env = {
            "UPARE_DATA_DIR": str(settings.data_dir),
            "UPARE_DATABASE_URL": settings.database_url,
            "UPARE_MAIL_URL": server.url,
        }
        fleet = Fleet(env, tmp_path)
        fleet.start("notifier", "notifier", tally=False)
        try:
            fid = befriend(container, alice, bob)
            deadline = time.monotonic() + 30
            while outcome(container, fid) != "notified":
                assert time.monotonic() < deadline, fleet.tails()
                StoreFeed(container.log, container.db, container.projections).run_once()
                time.sleep(0.05)
            assert fleet.stop() == {"notifier": 0}, fleet.tails()  # SIGTERM: a clean stop
            fleet.start("notifier")
            fleet.wait_for("notifier", "delivering the outbox", count=2)  # it is up again
            time.sleep(2)  # a restarted notifier looks at everything again
        finally:
            codes = fleet.stop()
        assert codes == {"notifier": 0}, fleet.tails()
        Pipeline(container).feeds[0].run_once()
        assert server.inbox.message_ids() == Counter({message_id(f"notices:{fid}:1:mail"): 1})
        assert texts(container, bob) == [("alice is now your friend", 0)]


def test_upare_worker_notifies_and_a_mail_server_down_never_holds_back_the_read_models(
    settings, tmp_path
):
    alice, bob = register(settings, "alice", "bob")
    down = SmtpServer()  # nothing listens on its port
    env = {
        "UPARE_DATA_DIR": str(settings.data_dir),
        "UPARE_DATABASE_URL": settings.database_url,
        "UPARE_MAIL_URL": down.url,
        "UPARE_NOTIFY_BACKOFF": "0.5",
    }
    fleet = Fleet(env, tmp_path)
    fleet.start("worker", "worker", tally=False)
    try:
        with bootstrap(settings) as container:
            fid = befriend(container, alice, bob)
            deadline = time.monotonic() + 30
            while texts(container, bob) != [("alice is now your friend", 0)]:
                assert time.monotonic() < deadline, fleet.tails()
                time.sleep(0.05)
            mail = outbox.status(container.db, f"notices:{fid}:1:mail")
            assert mail is not None and mail.status in ("pending", "sending")  # still trying
            while texts(container, alice) != [(NOTIFY_FAILED, 204104)]:
                assert time.monotonic() < deadline, fleet.tails()
                time.sleep(0.05)
            assert outcome(container, fid) == "failed"
    finally:
        assert fleet.stop() == {"worker": 0}, fleet.tails()
