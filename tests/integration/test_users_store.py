"""Registering and reading accounts on each backend: the store, the projection, the query."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.handlers import Bus
from commands.users import RegisterUser, claimed, free_email, free_username
from domain.errors import UpareError
from projections.watermark import watermark
from queries import users
from tests.integration.feeds import project
from upare.bootstrap import bootstrap


def register(container, username: str, email: str | None = None):
    command = RegisterUser(
        username=username, password="correct horse", email=email or f"{username}@example.com"
    )
    return container.bus.execute(command)


def test_a_registered_user_is_answered_from_the_read_model(container):
    done = register(container, "alice")
    assert users.public_profile(container.db, done.fields["uid"]) is None  # not projected yet

    project(container)

    assert watermark(container.db, "users") >= done.position
    assert users.public_profile(container.db, done.fields["uid"]) == {
        "uid": 10001,
        "username": "alice",
        "nickname": "alice",
        "avatar": None,
    }


def test_a_name_is_taken_the_moment_its_registration_is_stored(container):
    register(container, "alice")  # stored, not projected

    assert claimed(container.app, "username", "ALICE")
    assert claimed(container.app, "email", " Alice@Example.com ")
    assert not claimed(container.app, "username", "bob")
    with pytest.raises(UpareError) as refused:
        free_username(container.app, "Alice")
    assert refused.value.code == 202002
    with pytest.raises(UpareError) as refused:
        free_email(container.app, "ALICE@example.com")
    assert refused.value.code == 202003
    assert free_username(container.app, "bob") == "bob"


def test_projecting_twice_changes_nothing(container):
    register(container, "alice")
    project(container)
    with container.db.transaction() as tx:
        tx.execute("DELETE FROM projection_positions")  # as after a lost position
    project(container)
    rows = container.db.fetchall("SELECT uid, username FROM users_profiles")
    assert rows == [(10001, "alice")]


def in_parallel(container, count: int, attempt) -> list[object]:
    """Run `attempt(bus, n)` at once in `count` threads, each wired as a process of its own."""
    processes = [bootstrap(container.settings) for _ in range(count)]
    start = threading.Barrier(count)

    def call(n: int) -> object:
        start.wait()
        return attempt(processes[n].bus, n)

    try:
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(call, range(count)))
    finally:
        for process in processes:
            process.close()


def test_concurrent_registrations_of_one_username_give_exactly_one_account(container):
    def attempt(bus: Bus, n: int) -> object:
        command = RegisterUser(
            username="Popular", password="correct horse", email=f"p{n}@example.com"
        )
        try:
            return bus.execute(command).fields["uid"]
        except UpareError as ex:
            return ex.code

    outcomes = in_parallel(container, 6, attempt)

    assert sorted(outcomes, key=str) == sorted([10001] + [202002] * 5, key=str)
    project(container)
    assert container.db.fetchall("SELECT uid FROM users_profiles") == [(10001,)]


def test_concurrent_registrations_of_different_users_get_distinct_uids(container):
    def attempt(bus: Bus, n: int) -> list[int]:
        return [
            bus.execute(
                RegisterUser(
                    username=f"user{n}x{k}",
                    password="correct horse",
                    email=f"u{n}x{k}@example.com",
                ),
            ).fields["uid"]
            for k in range(5)
        ]

    uids = [uid for batch in in_parallel(container, 4, attempt) for uid in batch]

    assert sorted(uids) == list(range(10001, 10021))


@pytest.mark.parametrize(
    ("username", "email", "code"), [("ALICE", None, 202002), ("other", "ALICE@example.com", 202003)]
)
def test_duplicates_are_refused_by_the_store(container, username, email, code):
    register(container, "alice")
    with pytest.raises(UpareError) as refused:
        register(container, username, email)
    assert refused.value.code == code
