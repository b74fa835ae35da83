"""A failing handler on the store feed: retried, then parked, never overtaken; retry and skip."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from projections import PROJECTIONS, catalog, dead_letters
from projections.apply import HandlerFailed, Retry, apply_batch, retry_parked, skip_parked
from projections.database import Transaction
from projections.events import EventRecord
from tests.integration import feeds
from tests.integration.tally import POISON, Counter, TallyProjection, forgiving
from upare.bootstrap import Container, bootstrap
from upare.cli import app
from workers.store_feed import StoreFeed


@pytest.fixture
def tally(container: Container) -> Container:
    container.projections = [*container.projections, TallyProjection]
    catalog.install(container.db, container.projections, container.log.head())
    return container


def project(container: Container) -> None:
    feeds.project(container, retry=Retry(2, 0.0))


def totals(container: Container) -> dict[str, int]:
    rows = container.db.fetchall("SELECT id, total FROM tally_counters")
    return {row[0]: int(row[1]) for row in rows}


def counter_with(*amounts: int) -> Counter:
    counter = Counter(name="c")
    for amount in amounts:
        counter.add(amount=amount)
    return counter


def statuses(container: Container) -> list[tuple[int, str]]:
    letters = dead_letters.listing(container.db, everything=True)
    return [(letter.event.version, letter.status) for letter in letters]


def test_a_failing_event_is_parked_and_the_other_aggregates_go_on(tally):
    victim, other = counter_with(1, POISON, 2), counter_with(5, 6)
    tally.app.save(victim, other)

    project(tally)

    assert totals(tally) == {str(victim.id): 1, str(other.id): 11}
    (parked, waiting) = dead_letters.listing(tally.db, "tally")
    assert (parked.status, parked.event.version, parked.attempts) == ("parked", 3, 3)
    assert "poison amount" in parked.error
    assert parked.event.data == {"amount": POISON}
    assert (waiting.status, waiting.event.version) == ("waiting", 4)
    assert parked.first_failed_at <= parked.last_failed_at


def test_later_events_of_a_parked_aggregate_wait_even_in_later_batches(tally):
    victim = counter_with(1, POISON)
    tally.app.save(victim)
    project(tally)
    victim.add(amount=7)
    tally.app.save(victim)

    project(tally)

    assert totals(tally) == {str(victim.id): 1}
    assert statuses(tally) == [(3, "parked"), (4, "waiting")]


def test_retry_applies_the_parked_event_then_the_waiting_ones_in_order(tally):
    victim = counter_with(1, POISON, 2, 3)
    tally.app.save(victim)
    project(tally)

    assert retry_parked(tally.db, TallyProjection, str(victim.id)) == 3  # still poisonous
    (parked, *_) = dead_letters.listing(tally.db)
    assert parked.attempts == 4
    with forgiving():
        assert retry_parked(tally.db, TallyProjection, str(victim.id)) == 0

    assert totals(tally) == {str(victim.id): 1 + POISON + 2 + 3}
    assert statuses(tally) == [(3, "applied"), (4, "applied"), (5, "applied")]
    victim.add(amount=10)
    tally.app.save(victim)
    project(tally)
    assert totals(tally) == {str(victim.id): 1 + POISON + 2 + 3 + 10}


def test_skip_gives_up_the_parked_event_and_releases_the_waiting_ones(tally):
    victim = counter_with(1, POISON, 2)
    tally.app.save(victim)
    project(tally)

    assert skip_parked(tally.db, TallyProjection, str(victim.id)) == 0

    assert totals(tally) == {str(victim.id): 3}
    assert statuses(tally) == [(3, "skipped"), (4, "applied")]
    with pytest.raises(LookupError):
        retry_parked(tally.db, TallyProjection, str(victim.id))


def test_a_redelivered_event_changes_no_dead_letter(tally):
    victim = counter_with(1, POISON, 2)
    tally.app.save(victim)
    project(tally)
    (parked, waiting) = dead_letters.listing(tally.db)

    with tally.db.transaction() as tx:  # the same events again, as Kafka may deliver them
        apply_batch(tx, TallyProjection(1), [waiting.event, parked.event], careful=9)

    assert dead_letters.listing(tally.db) == [parked, waiting]


def flaky(times: int) -> Callable[[TallyProjection, Transaction, EventRecord], None]:
    """Return an `Added` handler that fails its first `times` calls, then behaves."""
    original = TallyProjection.handlers[Counter.Added]
    calls = {"n": 0}

    def added(self: TallyProjection, tx: Transaction, event: EventRecord) -> None:
        calls["n"] += 1
        if calls["n"] <= times:
            raise RuntimeError("a passing failure")
        original(self, tx, event)

    return added


def test_a_handler_that_fails_once_is_retried_and_nothing_is_parked(tally, monkeypatch):
    monkeypatch.setitem(TallyProjection.handlers, Counter.Added, flaky(1))
    victim = counter_with(1, 2)
    tally.app.save(victim)

    project(tally)

    assert totals(tally) == {str(victim.id): 3}
    assert dead_letters.listing(tally.db, everything=True) == []


def test_operators_list_retry_and_skip_parked_events_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("UPARE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("UPARE_DATABASE_URL", f"sqlite:///{tmp_path}/db")
    monkeypatch.delenv("UPARE_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setattr("upare.bootstrap.PROJECTIONS", [*PROJECTIONS, TallyProjection])
    with bootstrap() as container:
        first, second = counter_with(1, POISON, 2), counter_with(POISON, 5)
        container.app.save(first, second)
        project(container)
    runner = CliRunner()

    def upare(*args: str) -> Result:
        return runner.invoke(app, ["projections", "dead-letters", *args])

    listed = upare("list")
    assert listed.exit_code == 0, listed.output
    assert "dead letters (4)" in listed.output
    assert listed.output.count("parked") == 2
    assert listed.output.count("waiting") == 2
    assert upare("retry", "tally", str(first.id)).exit_code == 2  # still poisonous
    with forgiving():
        assert upare("retry", "tally", str(first.id)).exit_code == 0
    assert upare("skip", "tally", str(second.id)).exit_code == 0
    assert upare("skip", "tally", str(second.id)).exit_code == 1  # nothing parked any more
    assert "dead letters (0)" in upare("list").output
    assert "dead letters (4)" in upare("list", "--all", "--projection", "tally").output


def test_a_feed_told_to_stop_while_retrying_parks_nothing(tally):
    tally.app.save(counter_with(1, POISON))
    stop = threading.Event()
    stop.set()
    feed = StoreFeed(tally.log, tally.db, tally.projections, Retry(3, 0.01))

    with pytest.raises(HandlerFailed):
        feed.run_once(stop)
    feed.run(stop)  # returns at once, quietly

    assert dead_letters.listing(tally.db, everything=True) == []
