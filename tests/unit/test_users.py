"""Registering accounts: given events, when a command, then events (in memory)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.application import WriteApplication
from commands.handlers import Bus
from commands.users import RegisterUser, Uids
from domain.errors import UpareError
from domain.passwords import verify_password
from domain.users import EMAIL, Index, User, check_email, user_id
from tests.unit import wiring


@pytest.fixture
def store() -> WriteApplication:
    return WriteApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def process(tmp_path):
    """Return a function making the command bus of a process writing to a store."""
    return lambda store: wiring.bus(store, tmp_path)


@pytest.fixture
def bus(store: WriteApplication, process) -> Bus:
    return process(store)


def register(bus: Bus, username: str = "alice", email: str = "alice@example.com"):
    command = RegisterUser(username=username, password="correct horse", email=email)
    return bus.execute(command)


def test_registering_records_the_user_and_claims_its_username_and_email(store, bus):
    done = register(bus)

    user = store.repository.get(user_id(done.fields["uid"]))
    assert (user.username, user.email, user.nickname) == ("alice", "alice@example.com", "alice")
    assert store.repository.get(store.claim_id("username", "ALICE")).owner == user.id
    assert store.repository.get(store.claim_id("email", "Alice@Example.com")).owner == user.id
    assert store.repository.get(store.claim_id("nickname", "Alice")).owner == user.id
    assert done.position == 5  # the user, its three claims and its welcome, saved together


def test_uids_are_numbered_from_10001_upwards(bus):
    uids = [register(bus, f"user{n}", f"user{n}@example.com").fields["uid"] for n in range(3)]
    assert uids == [10001, 10002, 10003]


def test_a_new_process_continues_the_uid_sequence(store, bus, process):
    for n in range(5):
        register(bus, f"user{n}", f"user{n}@example.com")
    assert register(process(store), "late", "late@example.com").fields["uid"] == 10006


def test_two_processes_registering_in_turn_share_one_dense_uid_sequence(store, process):
    first, second = process(store), process(store)
    uids = [
        register(bus, f"user{n}", f"user{n}@example.com").fields["uid"]
        for n, bus in enumerate([first, second, first, second, first])
    ]
    assert uids == [10001, 10002, 10003, 10004, 10005]


def test_a_uid_given_back_after_a_failed_save_is_handed_out_again(store):
    uids = Uids(store)
    taken = uids.take()
    uids.back(taken)
    assert uids.take() == taken == 10001


def test_the_password_is_stored_only_as_an_argon2id_hash(store, bus):
    done = register(bus)
    user = store.repository.get(user_id(done.fields["uid"]))
    stored = b"".join(n.state for n in store.recorder.select_notifications(1, 10))

    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "correct horse")
    assert b"correct horse" not in stored


@pytest.mark.parametrize(
    ("username", "email", "code"),
    [
        ("ALICE", "other@example.com", 202002),
        ("bob", "ALICE@example.COM", 202003),
    ],
)
def test_a_taken_username_or_email_is_refused_whatever_its_case(bus, username, email, code):
    register(bus)
    with pytest.raises(UpareError) as refused:
        register(bus, username, email)
    assert refused.value.code == code
    assert refused.value.status == 409


@pytest.mark.parametrize(
    ("username", "password", "email", "field"),
    [
        ("al", "correct horse", "a@example.com", "username"),
        ("a" * 33, "correct horse", "a@example.com", "username"),
        ("al ice", "correct horse", "a@example.com", "username"),
        ("alice", "short", "a@example.com", "password"),
        ("alice", "correct horse", "not-an-email", "email"),
    ],
)
def test_bad_values_are_refused_with_the_parameter_named(
    store, bus, username, password, email, field
):
    with pytest.raises(UpareError) as refused:
        bus.execute(RegisterUser(username=username, password=password, email=email))
    assert refused.value.code == 100004
    assert field in refused.value.errors
    assert store.recorder.max_notification_id() in (None, 0)


def test_a_second_claim_on_a_value_conflicts_in_the_store(store):
    from eventsourcing.persistence import IntegrityError

    store.save(Index(id=store.claim_id("username", "carol"), kind="username", owner=user_id(1)))
    with pytest.raises(IntegrityError):
        store.save(
            User.register(uid=10001, username="carol", email="c@example.com", password_hash="x"),
            Index(id=store.claim_id("username", "Carol"), kind="username", owner=user_id(10001)),
        )
    assert not store.exists(user_id(10001))  # nothing of the refused transaction was kept


@given(st.from_regex(EMAIL, fullmatch=True).filter(lambda email: len(email) <= 254))
def test_every_address_the_documented_pattern_allows_is_accepted_as_it_is(email):
    assert check_email(email) == email  # trimming never makes an allowed address refused


def test_no_kind_of_space_is_part_of_an_address():
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert not [hex(ord(s)) for s in spaces if EMAIL.fullmatch(f"a{s}b@example.com")]
