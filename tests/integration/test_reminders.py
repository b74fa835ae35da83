"""The reminder scheduler on SQLite and on PostgreSQL: a passed `remind_at` becomes one inbox
message, however often it is run, by however many schedulers, restarted whenever."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from commands.calendar import AddTodo, SendReminder, UpdateTodo
from commands.users import RegisterUser
from domain.calendar import iso
from projections.calendar import CalendarProjection
from projections.rebuild import rebuild
from queries import calendar
from tests.integration.feeds import project
from upare.bootstrap import bootstrap
from workers.reminders import Reminders

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def register(container, username: str = "alice") -> int:
    command = RegisterUser(
        username=username, password="correct horse", email=f"{username}@example.com"
    )
    return container.bus.execute(command).fields["uid"]


def add(container, uid: int, remind_in: float, **fields) -> int:
    command = AddTodo(
        uid=uid,
        title=fields.pop("title", "Dentist"),
        start=iso(NOW + timedelta(hours=1)),
        remind_at=iso(NOW + timedelta(seconds=remind_in)),
        **fields,
    )
    return container.bus.execute(command).position


def reminders(container) -> list[str]:
    """Return the texts of every reminder message in the event store."""
    return [
        e.data["personal"]["text"]
        for e in container.log.read(0, 100_000)
        if e.type == "Message.Sent" and e.data["personal"]["text"].startswith("Reminder:")
    ]


@pytest.fixture
def at(container):
    """Set the time the scheduler and its command see (a fixed clock, moved by the test)."""
    now = [NOW]
    container.clock = lambda: now[0]

    def move(seconds: float) -> None:
        now[0] = NOW + timedelta(seconds=seconds)

    return move


def scheduler(container, catch_up: float = 0) -> Reminders:
    """Return a scheduler; without `catch_up` it does not wait for the read model (the test
    projects by itself)."""
    return Reminders(container.db, container.bus, container.clock, catch_up)


def test_a_passed_reminder_becomes_one_message_naming_title_and_start(container, at):
    uid = register(container)
    add(container, uid, remind_in=-60)
    add(container, uid, remind_in=60, title="Later")
    project(container)

    assert scheduler(container).run_once() == 1
    project(container)
    assert scheduler(container).run_once() == 0  # run again: nothing more

    assert reminders(container) == ["Reminder: Dentist starts at 2026-12-01T10:00:00+00:00"]
    at(61)
    assert scheduler(container).run_once() == 1
    assert len(reminders(container)) == 2


def test_a_scheduler_restarted_before_the_read_model_caught_up_sends_nothing_again(container, at):
    uid = register(container)
    add(container, uid, remind_in=-1)
    project(container)
    [todo_id] = calendar.due_reminders(container.db, iso(NOW), 10)
    assert container.bus.execute(SendReminder(todo_id=todo_id)).position  # then it died

    # a new scheduler, the read model still proposing the reminder: the aggregate says no
    assert calendar.due_reminders(container.db, iso(NOW), 10) == [todo_id]
    assert container.bus.execute(SendReminder(todo_id=todo_id)).position is None
    project(container)
    assert calendar.due_reminders(container.db, iso(NOW), 10) == []
    assert len(reminders(container)) == 1


def test_two_schedulers_at_once_send_each_reminder_once(container, at):
    uid = register(container)
    for _ in range(20):
        add(container, uid, remind_in=-1)
    project(container)
    processes = [bootstrap(container.settings) for _ in range(2)]
    start = threading.Barrier(len(processes))

    def run(process) -> None:
        process.clock = container.clock
        start.wait()
        for todo_id in calendar.due_reminders(process.db, iso(NOW), 100):
            process.bus.execute(SendReminder(todo_id=todo_id))

    threads = [threading.Thread(target=run, args=(process,)) for process in processes]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for process in processes:
            process.close()

    assert len(reminders(container)) == 20


def test_moving_a_sent_reminder_arms_it_again_and_done_disarms_it(container, at):
    uid = register(container)
    todo = add(container, uid, remind_in=-1)
    project(container)
    assert scheduler(container).run_once() == 1

    container.bus.execute(UpdateTodo(uid=uid, todo_id=todo, changes={"remind_at": iso(NOW)}))
    project(container)
    assert scheduler(container).run_once() == 1

    later = iso(NOW + timedelta(seconds=30))
    container.bus.execute(UpdateTodo(uid=uid, todo_id=todo, changes={"remind_at": later}))
    container.bus.execute(UpdateTodo(uid=uid, todo_id=todo, changes={"done": True}))
    project(container)
    at(60)
    assert scheduler(container).run_once() == 0
    assert len(reminders(container)) == 2


def test_the_scheduler_sleeps_until_the_next_reminder_falls_due(container, at):
    uid = register(container)
    add(container, uid, remind_in=0)
    project(container)

    at(-0.25)
    assert scheduler(container).idle() == pytest.approx(0.25)
    at(1)
    assert scheduler(container).idle() == 1.0  # none pending after now: the longest sleep


def test_the_running_scheduler_sends_a_new_reminder_at_once(container):
    uid = register(container)
    stop = threading.Event()
    loops = [
        threading.Thread(target=scheduler(container, catch_up=5).run, args=(stop,)),
        threading.Thread(target=feeder(container), args=(stop,)),
    ]
    for loop in loops:
        loop.start()
    start = iso(datetime.now(UTC))
    try:
        container.bus.execute(AddTodo(uid=uid, title="Now", start=start, remind_at=iso(NOW)))
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while datetime.now(UTC) < deadline and (
            not reminders(container) or calendar.due_reminders(container.db, start, 10)
        ):
            stop.wait(0.02)
    finally:
        stop.set()
        for loop in loops:
            loop.join()
    assert reminders(container) == [f"Reminder: Now starts at {start}"]


def feeder(container):
    from workers.store_feed import StoreFeed

    return StoreFeed(container.log, container.db, container.projections).run


def test_a_rebuild_keeps_every_event_its_id_and_sent_reminders_sent(container, at):
    uid = register(container)
    for n in range(5):
        add(container, uid, remind_in=-1 if n % 2 else 60, title=f"todo {n}")
    project(container)
    assert scheduler(container).run_once() == 2
    project(container)
    before = calendar.events(container.db, uid, everything=True)

    assert rebuild(container.log, container.db, CalendarProjection).generation == 2
    assert calendar.events(container.db, uid, everything=True) == before
    assert calendar.due_reminders(container.db, iso(NOW), 10) == []
