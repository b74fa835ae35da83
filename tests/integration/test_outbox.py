"""Projections queue messages in their own transaction, once per event; a rebuild queues none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from projections import catalog, outbox
from projections.apply import Retry, apply_batch
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord
from projections.rebuild import rebuild
from tests.integration import feeds
from tests.integration.tally import POISON, Counter


class Receipts(Projection):
    """A projection with a side effect: a mail for every amount added to a counter.

    Its handler queues the mail and only then fails on POISON, `failures` times, so a failed
    attempt has a queued row to roll back.
    """

    name = "receipts"
    tables = {"seen": "id TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (id, version)"}
    has_side_effects = True
    failures = 0

    @handles(Counter.Added)
    def added(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"INSERT INTO {self.table('seen')} VALUES (?, ?)", (event.originator_id, event.version)
        )
        receipt = outbox.mail(to="owner@x.io", subject="added", body=str(event.data["amount"]))
        self.send(tx, event, "receipt", receipt)
        if event.data["amount"] == POISON and type(self).failures > 0:
            type(self).failures -= 1
            raise ValueError("cannot add the poison")


@pytest.fixture
def receipts(container, monkeypatch):
    monkeypatch.setattr(Receipts, "failures", 0)
    catalog.install(container.db, [Receipts], container.log.head())
    return Receipts


def project(container) -> None:
    feeds.project(container, [Receipts], Retry(2, 0.0))


def counter_with(*amounts: int) -> Counter:
    counter = Counter(name="c")
    for amount in amounts:
        counter.add(amount=amount)
    return counter


def receipt_keys(counter: Counter, *versions: int) -> list[str]:
    return sorted(
        outbox.key("receipts", str(counter.id), version, "receipt") for version in versions
    )


def queued(container) -> list[str]:
    return sorted(delivery.key for delivery in outbox.listing(container.db))


def test_each_event_queues_its_message_with_a_key_naming_the_event(container, receipts):
    counter = counter_with(5, 6, 7)
    container.app.save(counter)

    project(container)

    assert queued(container) == receipt_keys(counter, 2, 3, 4)
    delivery = outbox.status(container.db, receipt_keys(counter, 2)[0])
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.message.body) == ("pending", 0, "5")


def test_a_batch_that_failed_at_its_nth_event_and_was_retried_queues_one_message_per_event(
    container, receipts, monkeypatch
):
    monkeypatch.setattr(Receipts, "failures", 1)
    counter = counter_with(1, 2, 3, POISON, 4, 5)
    container.app.save(counter)

    project(container)

    assert Receipts.failures == 0  # the first attempt failed at the fourth amount
    assert queued(container) == receipt_keys(counter, *range(2, 8))


def test_a_parked_event_queues_nothing_and_the_events_waiting_behind_it_neither(
    container, receipts, monkeypatch
):
    monkeypatch.setattr(Receipts, "failures", 99)
    victim, other = counter_with(1, POISON, 2), counter_with(5, 6)
    container.app.save(victim, other)

    project(container)

    assert queued(container) == sorted(receipt_keys(victim, 2) + receipt_keys(other, 2, 3))


def test_a_rebuild_queues_nothing_for_the_history_it_replays(container, receipts):
    container.app.save(counter_with(*range(1, 40)), counter_with(7, 8))
    project(container)
    assert len(queued(container)) == 41
    with container.db.transaction() as tx:  # delivered and cleared: keys cannot stop a replay
        tx.execute("DELETE FROM outbox")

    assert rebuild(container.log, container.db, Receipts).generation == 2

    assert queued(container) == []
    assert len(container.db.fetchall("SELECT * FROM receipts_seen")) == 41


def test_a_rebuild_queues_once_what_the_live_generation_had_not_reached(container, receipts):
    old = counter_with(1, 2)
    container.app.save(old)
    project(container)
    new = counter_with(3, 4)
    container.app.save(new)  # stored, not yet handled by the live generation

    rebuild(container.log, container.db, Receipts)
    project(container)

    assert queued(container) == sorted(receipt_keys(old, 2, 3) + receipt_keys(new, 2, 3))


def test_an_event_applied_again_by_another_generation_queues_no_second_message(container, receipts):
    counter = counter_with(1, 2)
    container.app.save(counter)
    project(container)
    before = outbox.listing(container.db)
    records = container.log.read(0, 100)

    with container.db.transaction() as tx:  # as a rebuild's switch may, for a few events
        other = Receipts(7)
        catalog.create_tables(tx, other)
        assert apply_batch(tx, other, records) == 2

    assert outbox.listing(container.db) == before


def test_a_message_enqueued_twice_under_one_key_is_queued_once(container):
    message = outbox.sms(to="+15550100", body="your code: 123456")

    assert outbox.enqueue(container.db, "register:10001:1:code", message) is True
    assert outbox.enqueue(container.db, "register:10001:1:code", message) is False

    (delivery,) = outbox.listing(container.db)
    assert (delivery.key, delivery.message, delivery.status) == (
        "register:10001:1:code",
        message,
        "pending",
    )


def test_a_projection_without_side_effects_cannot_send(container):
    class Quiet(Projection):
        name = "quiet"
        tables = {}

    event = EventRecord(
        1, "some-aggregate", 1, "tests.integration.tally:Counter.Added", datetime.now(UTC), {}
    )
    with container.db.transaction() as tx, pytest.raises(TypeError, match="has_side_effects"):
        Quiet().send(tx, event, "receipt", outbox.sms(to="+15550100", body="hi"))


def test_upare_outbox_list_shows_each_message_and_how_it_fared(container, cli):
    outbox.enqueue(
        container.db, "test:list:1:mail", outbox.mail(to="bob@x.io", subject="s", body="b")
    )
    printed = cli("outbox", "list", "--status", "pending")

    row = next(line for line in printed.splitlines() if "test:list:1:mail" in line)
    assert "bob@x.io" in row and "pending" in row and "mail" in row
    assert "outbox (1)" in printed
