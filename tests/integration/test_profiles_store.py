"""Profiles on each backend (SQLite with its cache file; PostgreSQL with Redis): claims moved
and freed at once, races for one nickname, sessions ended by a password change."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.profiles import ModifyBasicInfo, ModifyDetailInfo
from commands.users import RegisterUser, find_account
from domain.errors import UpareError
from domain.keys import digest
from domain.passwords import verify_password
from queries import users
from queries.freshness import wait_for
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.integration.feeds import project
from upare import sessions
from upare.bootstrap import bootstrap


def register(container, username: str, email: str | None = None) -> int:
    command = RegisterUser(
        username=username, password="correct horse", email=email or f"{username}@example.com"
    )
    return container.bus.execute(command).fields["uid"]


def test_an_old_email_nickname_and_phone_are_free_for_others_right_after_a_change(container):
    alice = register(container, "alice")
    container.bus.execute(ModifyBasicInfo(uid=alice, nickname="Ally", phone="5550100"))
    container.bus.execute(
        ModifyBasicInfo(uid=alice, nickname="Allie", email="allie@example.com", phone="5550199")
    )

    bob = register(container, "bob", email="ALICE@example.com")  # the old email, any case
    container.bus.execute(ModifyBasicInfo(uid=bob, nickname="ally", phone="5550100"))

    project(container)
    assert users.own_profile(container.db, alice) | {"details": None} == {
        "uid": alice,
        "username": "alice",
        "nickname": "Allie",
        "avatar": None,
        "email": "allie@example.com",
        "email_verified": False,
        "phone": "5550199",
        "phone_verified": False,
        "details": None,
    }
    bobs = users.own_profile(container.db, bob)
    assert (bobs["nickname"], bobs["email"], bobs["phone"]) == (
        "ally",
        "ALICE@example.com",
        "5550100",
    )


def test_two_users_racing_for_one_nickname_give_exactly_one_winner(container):
    uids = [register(container, f"racer{n}") for n in range(6)]
    processes = [bootstrap(container.settings) for _ in uids]  # a process each
    start = threading.Barrier(len(uids))

    def attempt(n: int) -> int:
        start.wait()
        try:
            processes[n].bus.execute(ModifyBasicInfo(uid=uids[n], nickname="Winner"))
        except UpareError as ex:
            return ex.code
        return 0

    try:
        with ThreadPoolExecutor(len(uids)) as pool:
            codes = list(pool.map(attempt, range(len(uids))))
    finally:
        for process in processes:
            process.close()

    assert sorted(codes) == [0] + [202005] * (len(uids) - 1)
    project(container)
    rows = container.db.fetchall("SELECT uid FROM users_profiles WHERE nickname = 'Winner'")
    assert rows == [(uids[codes.index(0)],)]


def test_a_password_change_ends_the_users_other_sessions_keeps_the_callers_and_logs_in(
    container,
):
    alice = register(container, "alice")
    bob = register(container, "bob")
    mine = sessions.open_session(container.cache, alice)
    other = sessions.open_session(container.cache, alice, sessions.REMEMBERED)
    bobs = sessions.open_session(container.cache, bob)

    container.bus.execute(
        ModifyBasicInfo(
            uid=alice,
            keep_session=digest(mine),
            newpassword="battery staple",
            confirm="battery staple",
        )
    )

    assert sessions.read_session(container.cache, mine) == {"uid": alice}
    assert sessions.read_session(container.cache, other) is None
    assert sessions.read_session(container.cache, bobs) == {"uid": bob}
    account = find_account(container.app, "alice@example.com")
    assert account is not None and verify_password(account.password_hash, "battery staple")
    assert not verify_password(account.password_hash, "correct horse")


def test_details_are_visible_once_the_projection_passes_the_commands_position(container):
    alice = register(container, "alice")
    done = container.bus.execute(ModifyDetailInfo(uid=alice, details={"postalcode": "100871"}))
    assert users.own_profile(container.db, alice) is None  # not projected yet

    project(container)

    assert wait_for(container.db, ["users"], done.position, timeout=0)
    assert users.own_profile(container.db, alice)["details"] == {"postalcode": "100871"}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [("nickname", "bob", 202005), ("email", "BOB@example.com", 202003)],
)
def test_values_held_by_others_are_refused_by_the_store(container, field, value, code):
    alice = register(container, "alice")
    register(container, "bob")
    with pytest.raises(UpareError) as refused:
        container.bus.execute(ModifyBasicInfo(uid=alice, **{field: value}))
    assert refused.value.code == code
