"""Group commit (commands/group_commit.py): concurrent commands share store transactions on
PostgreSQL, each answered with its own position, a conflict failing only its own command, and
the log's order gap-safe for readers tailing it. The same behaviour holds on SQLite, which
writes each save by itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from uuid import UUID

import pytest
from eventsourcing.persistence import DataError, IntegrityError, PersistenceError

from commands.group_commit import GroupCommitRecorder
from domain.calendar import Todo
from upare.bootstrap import bootstrap

START = "2026-12-10T09:00:00+00:00"


def todo(uid: int = 10001, title: str = "call") -> Todo:
    return Todo.add(uid, title=title, start=START)


@contextmanager
def one_batch(container, count: int) -> Iterator[None]:
    """On PostgreSQL, hold the commit back until `count` saves wait, so they share a batch."""
    recorder = container.app.recorder
    if not isinstance(recorder, GroupCommitRecorder):
        yield
        return
    with recorder.commit_lock:
        yield
        deadline = time.monotonic() + 10
        while len(recorder.pending) < count and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(recorder.pending) == count


def record_all(container, saves: list[Callable[[], object]]) -> list[object]:
    """Run each save in a thread of its own; answer what each returned or raised."""

    def run(save: Callable[[], object]) -> object:
        try:
            return save()
        except PersistenceError as ex:
            return ex

    with ThreadPoolExecutor(len(saves)) as pool:
        with one_batch(container, len(saves)):
            futures = [pool.submit(run, save) for save in saves]
        return [future.result() for future in futures]


def test_postgres_commits_concurrent_saves_with_the_group_recorder(container):
    grouped = isinstance(container.app.recorder, GroupCommitRecorder)
    assert grouped == container.settings.is_postgres


def test_concurrent_commands_get_distinct_positions_each_its_own_last_event(container):
    todos = [todo(title=f"todo {n}") for n in range(24)]
    for one in todos[::2]:
        one.update(10001, title="renamed")  # half the saves store two events
    answers = record_all(container, [lambda one=one: container.app.record(one) for one in todos])

    positions = [done.position for done in answers]
    assert len(set(positions)) == len(todos)
    stored = container.app.recorder.select_notifications(1, 100)
    assert len(stored) == 36
    at = {n.id: n for n in stored}
    for one, position in zip(todos, positions, strict=True):
        assert (UUID(str(at[position].originator_id)), at[position].originator_version) == (
            one.id,
            one.version,
        )


def test_a_conflicting_save_fails_only_its_own_command(container):
    first = todo()
    container.app.record(first)
    mine, theirs = (container.app.repository.get(first.id) for _ in range(2))
    mine.update(10001, title="mine")
    theirs.update(10001, title="theirs")  # the same version as mine: only one can be stored
    others = [todo(title=f"other {n}") for n in range(4)]

    answers = record_all(
        container, [lambda one=one: container.app.record(one) for one in [mine, theirs, *others]]
    )

    assert sum(isinstance(answer, IntegrityError) for answer in answers[:2]) == 1
    assert not any(isinstance(answer, IntegrityError) for answer in answers[2:])
    for other in others:
        assert container.app.repository.get(other.id).title == other.title
    assert container.app.repository.get(first.id).title in {"mine", "theirs"}


def test_a_command_saving_several_aggregates_stores_all_or_none_of_them(container):
    stored = todo()
    container.app.record(stored)
    stale, current = (container.app.repository.get(stored.id) for _ in range(2))
    current.update(10001, title="current")
    container.app.record(current)
    stale.update(10001, title="stale")  # a version stored already
    fresh, bystander = todo(title="fresh"), todo(title="bystander")

    answers = record_all(
        container,
        [lambda: container.app.record(fresh, stale), lambda: container.app.record(bystander)],
    )

    assert isinstance(answers[0], IntegrityError)
    assert not container.app.exists(fresh.id)  # not stored without its failing companion
    assert container.app.repository.get(bystander.id).title == "bystander"


def test_a_reader_tailing_the_log_while_writers_race_loses_nothing_and_skips_no_gap(container):
    """Writers in three processes (each batching its threads' saves) race a reader."""
    processes = [container, *(bootstrap(container.settings) for _ in range(2))]
    threads, each = 4, 20
    positions: list[int] = []
    finished = threading.Event()
    seen: list[int] = []

    def write(process) -> None:
        for n in range(each):
            positions.append(process.app.record(todo(title=f"todo {n}")).position)

    def tail() -> None:
        last = 0
        while not finished.is_set() or last < max(positions, default=0):
            for notification in container.app.recorder.select_notifications(last + 1, 50):
                assert notification.id == last + 1, f"passed a gap after {last}"
                seen.append(last := notification.id)

    reader = threading.Thread(target=tail)
    reader.start()
    try:
        with ThreadPoolExecutor(threads * len(processes)) as pool:
            list(pool.map(write, processes * threads))
    finally:
        finished.set()
        reader.join(timeout=30)
        for process in processes[1:]:
            process.close()

    assert not reader.is_alive()
    assert seen == sorted(positions) == list(range(1, threads * len(processes) * each + 1))


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)  # SQLite has no group commit
def test_a_database_failure_fails_every_save_of_its_batch(container, monkeypatch):
    recorder = container.app.recorder
    assert isinstance(recorder, GroupCommitRecorder)
    # the batch's first statement, failing in the transaction it began: rolled back
    monkeypatch.setattr(recorder, "begin_lock_and_notify", "BEGIN; SELECT 1/0")
    todos = [todo(title=f"todo {n}") for n in range(3)]

    answers = record_all(container, [lambda one=one: container.app.record(one) for one in todos])

    assert all(isinstance(answer, DataError) for answer in answers)
    monkeypatch.undo()
    assert container.app.record(todo()).position is not None  # the next batch commits
    assert not any(container.app.exists(one.id) for one in todos)


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)  # SQLite has no group commit
def test_the_group_recorders_select_of_an_aggregate_answers_what_eventsourcings_does(container):
    recorder = container.app.recorder
    assert isinstance(recorder, GroupCommitRecorder)
    one = todo()
    for n in range(4):
        one.update(10001, title=f"title {n}")
    container.app.record(one, todo())
    stock = super(GroupCommitRecorder, recorder).select_events
    shapes = [{}, {"gt": 2}, {"lte": 3}, {"gt": 1, "lte": 4, "desc": True, "limit": 2}]
    shapes += [{"desc": True}, {"limit": 1}, {"gt": 5}]

    for shape in shapes:
        assert recorder.select_events(one.id, **shape) == stock(one.id, **shape), shape
    assert recorder.select_events(todo().id) == []
