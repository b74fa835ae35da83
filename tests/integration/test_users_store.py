"""Registering and reading accounts on each backend: the store, the projection, the query."""

from __future__ import annotations

import threading

import pytest

from commands.handlers import execute
from commands.store import EventStore
from commands.users import RegisterUser
from domain.errors import UpareError
from queries import users
from queries.freshness import watermark
from upare.bootstrap import build_store
from workers.store_feed import StoreFeed


def register(container, username: str, email: str | None = None):
    command = RegisterUser(
        username=username, password="correct horse", email=email or f"{username}@example.com"
    )
    return execute(container.store, command)


def project(container) -> None:
    feed = StoreFeed(container.store, container.db, container.projections)
    while feed.run_once():
        pass


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
    assert users.username_taken(container.db, "ALICE")
    assert users.email_taken(container.db, " Alice@Example.com ")
    assert not users.username_taken(container.db, "bob")


def test_projecting_twice_changes_nothing(container):
    register(container, "alice")
    project(container)
    with container.db.transaction() as tx:
        tx.execute("DELETE FROM projection_positions")  # as after a lost position
    project(container)
    rows = container.db.fetchall("SELECT uid, username FROM users_profiles")
    assert rows == [(10001, "alice")]


def test_concurrent_registrations_of_one_username_give_exactly_one_account(container):
    stores = [build_store(container.settings) for _ in range(6)]
    outcomes: list[object] = []
    start = threading.Barrier(len(stores))

    def attempt(store: EventStore, n: int) -> None:
        start.wait()
        try:
            command = RegisterUser(
                username="Popular", password="correct horse", email=f"p{n}@example.com"
            )
            outcomes.append(execute(store, command).fields["uid"])
        except UpareError as ex:
            outcomes.append(ex.code)

    threads = [threading.Thread(target=attempt, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()

    assert sorted(outcomes, key=str) == sorted([10001] + [202002] * 5, key=str)
    project(container)
    assert container.db.fetchall("SELECT uid FROM users_profiles") == [(10001,)]


def test_concurrent_registrations_of_different_users_get_distinct_uids(container):
    stores = [build_store(container.settings) for _ in range(4)]
    uids: list[int] = []

    def attempt(store: EventStore, n: int) -> None:
        for k in range(5):
            command = RegisterUser(
                username=f"user{n}x{k}", password="correct horse", email=f"u{n}x{k}@example.com"
            )
            uids.append(execute(store, command).fields["uid"])

    threads = [threading.Thread(target=attempt, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()

    assert sorted(uids) == list(range(10001, 10021))


@pytest.mark.parametrize(
    ("username", "email", "code"), [("ALICE", None, 202002), ("other", "ALICE@example.com", 202003)]
)
def test_duplicates_are_refused_by_the_store(container, username, email, code):
    register(container, "alice")
    with pytest.raises(UpareError) as refused:
        register(container, username, email)
    assert refused.value.code == code
