"""The inbox on SQLite and on PostgreSQL + Redis: the read model, concurrent reads, and a
rebuild that keeps ids."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.inbox import ReadMessage, message
from commands.users import RegisterUser
from domain.errors import UpareError
from projections.inbox import InboxProjection
from projections.rebuild import rebuild
from queries import inbox
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.integration.feeds import project
from upare.bootstrap import bootstrap


def register(container, username: str) -> int:
    command = RegisterUser(
        username=username, password="correct horse", email=f"{username}@example.com"
    )
    return container.bus.execute(command).fields["uid"]


def fill(container) -> tuple[int, int]:
    """Store two users' inboxes, some of it read; return the two uids."""
    alice, bob = register(container, "alice"), register(container, "bob")
    for n in range(30):
        container.app.record(message(alice if n % 3 else bob, f"note {n}"))
    project(container)
    for item in inbox.messages(container.db, alice, 1, 100)["messages"][::4]:
        container.bus.execute(ReadMessage(uid=alice, message_id=item["id"]))
    return alice, bob


def test_the_inbox_read_model_counts_orders_and_pages(container):
    alice, bob = register(container, "alice"), register(container, "bob")
    positions = [container.app.record(message(alice, f"note {n}")).position for n in range(7)]
    container.app.record(message(bob, "for bob"))
    container.bus.execute(ReadMessage(uid=alice, message_id=positions[2]))
    project(container)

    page = inbox.messages(container.db, alice, 2, 3)

    assert [m["id"] for m in page["messages"]] == positions[3::-1][:3]
    assert (page["total"], page["unread"]) == (8, 7)
    assert inbox.message(container.db, alice, positions[2])["read"] is True
    assert inbox.message(container.db, bob, positions[2]) is None


def test_concurrent_reads_of_one_message_store_one_read(container):
    alice = register(container, "alice")
    position = container.app.record(message(alice, "hi")).position
    processes = [bootstrap(container.settings) for _ in range(6)]
    start = threading.Barrier(len(processes))

    def attempt(process) -> int | None:
        start.wait()
        return process.bus.execute(ReadMessage(uid=alice, message_id=position)).position

    try:
        with ThreadPoolExecutor(len(processes)) as pool:
            stored = [p for p in pool.map(attempt, processes) if p is not None]
    finally:
        for process in processes:
            process.close()

    assert len(stored) == 1
    reads = [e for e in container.log.read(0, 1000) if e.type == "Message.Read"]
    assert len(reads) == 1


def test_reading_someone_elses_message_is_refused_with_404(container):
    alice, bob = register(container, "alice"), register(container, "bob")
    position = container.app.record(message(bob, "private")).position

    with pytest.raises(UpareError) as refused:
        container.bus.execute(ReadMessage(uid=alice, message_id=position))
    assert (refused.value.code, refused.value.status) == (404, 404)


def test_a_rebuild_gives_every_message_the_same_id(container):
    alice, bob = fill(container)
    project(container)
    before = [inbox.messages(container.db, uid, 1, 100) for uid in (alice, bob)]

    done = rebuild(container.log, container.db, InboxProjection)

    assert done.generation == 2
    assert [inbox.messages(container.db, uid, 1, 100) for uid in (alice, bob)] == before
    assert before[0]["unread"] < before[0]["total"]  # the reads were rebuilt too


def test_upare_projections_rebuild_messages_keeps_the_ids(container, cli):
    alice, _ = fill(container)
    project(container)
    before = inbox.messages(container.db, alice, 1, 100)

    cli("projections", "rebuild", "messages")
    assert inbox.messages(container.db, alice, 1, 100) == before
