"""SNS bindings on SQLite and on PostgreSQL + Redis: one identity binds one account, even
racing; the lockout counts in each backend's cache."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.sns import BindSns, RegisterWithSns, UnbindSns, sns_kind
from commands.users import RegisterUser, claimed
from domain.errors import UpareError
from domain.users import user_id
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from upare import sns
from upare.bootstrap import bootstrap
from upare.rate_limits import LOGIN_FAILURES

PASSWORD = "correct horse"


def ticket(container, openid: str = "5501234567") -> str:
    identity = sns.Identity("weibo", openid)
    return sns.issue(container.settings.secret_key, identity, time.time())


def register(container, username: str) -> int:
    command = RegisterUser(username=username, password=PASSWORD, email=f"{username}@x.io")
    return container.bus.execute(command).fields["uid"]


def bind(username: str, sns_ticket: str, address: str = "192.0.2.1") -> BindSns:
    return BindSns(username=username, password=PASSWORD, ticket=sns_ticket, address=address)


def race(container, commands: list[object]) -> list[object]:
    """Run the commands at once, each in a process of its own; return uids or codes."""
    processes = [bootstrap(container.settings) for _ in commands]
    start = threading.Barrier(len(commands))

    def attempt(n: int) -> object:
        start.wait()
        try:
            return processes[n].bus.execute(commands[n]).fields["uid"]
        except UpareError as ex:
            return ex.code

    try:
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(attempt, range(len(commands))))
    finally:
        for process in processes:
            process.close()


def test_accounts_racing_to_bind_one_identity_give_one_binding(container):
    uids = [register(container, f"user{n}") for n in range(4)]
    sns_ticket = ticket(container)

    outcomes = race(container, [bind(f"user{n}", sns_ticket) for n in range(4)])

    [winner] = [outcome for outcome in outcomes if outcome in uids]
    assert sorted(outcomes, key=str) == sorted([winner] + [100004] * 3, key=str)
    assert claimed(container.app, sns_kind("weibo"), "5501234567") == user_id(winner)
    bound = [uid for uid in uids if container.app.repository.get(user_id(uid)).sns]
    assert bound == [winner]


def test_registrations_racing_with_one_identity_give_one_account(container):
    sns_ticket = ticket(container)
    commands = [
        RegisterWithSns(
            username=f"user{n}",
            password=PASSWORD,
            confirm=PASSWORD,
            email=f"user{n}@x.io",
            ticket=sns_ticket,
        )
        for n in range(4)
    ]

    outcomes = race(container, commands)

    assert sorted(outcomes, key=str) == sorted([10001] + [100004] * 3, key=str)
    assert sum(bool(claimed(container.app, "username", f"user{n}")) for n in range(4)) == 1
    assert not container.app.exists(user_id(10002))  # the losers left no account behind


def test_an_unbound_identity_binds_another_account(container):
    first, second = register(container, "alice"), register(container, "bob")
    container.bus.execute(bind("alice", ticket(container)))

    container.bus.execute(UnbindSns(uid=first))
    done = container.bus.execute(bind("bob", ticket(container)))

    assert done.fields["uid"] == second
    assert claimed(container.app, sns_kind("weibo"), "5501234567") == user_id(second)


def test_the_lockout_counts_in_the_cache(container):
    uid = register(container, "alice")
    address = f"198.51.100.{uuid.uuid4().int % 250}"
    try:
        for _ in range(5):
            with pytest.raises(UpareError) as refused:
                container.bus.execute(
                    BindSns(
                        username="alice",
                        password="wrong",
                        ticket=ticket(container),
                        address=address,
                    )
                )
            assert refused.value.code == 202103
        with pytest.raises(UpareError) as refused:
            container.bus.execute(bind("alice", ticket(container), address))
        assert refused.value.code == 201204
        assert 0 < int(refused.value.headers["Retry-After"]) <= 900
    finally:  # Redis is shared: leave no counter that locks out another test's uid 10001
        container.limits.clear(LOGIN_FAILURES, "account", str(uid))
        container.limits.clear(LOGIN_FAILURES, "address", address)
