"""Profiles in memory: the rules for nicknames, phones and detail fields, and the commands that
change them (given events, when a command, then events)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import given
from hypothesis import strategies as st

from commands.application import WriteApplication
from commands.handlers import Bus
from commands.profiles import ModifyBasicInfo, ModifyDetailInfo
from commands.users import RegisterUser, claimed, load_user
from domain.details import check_details, id_card_problem, id_check_character
from domain.errors import UpareError
from domain.keys import digest
from domain.passwords import verify_password
from domain.users import User, check_nickname, check_phone
from tests.unit import wiring
from upare import sessions
from upare.cache import SqliteCache

TODAY = date(2026, 11, 30)
NOON = datetime(2026, 11, 30, 4, tzinfo=UTC)  # 12:00 in China
ALICE_ID = "11010519491231002X"  # a valid number: born 1949-12-31, check character X


class Contended(WriteApplication):
    """A store where another writer is always faster."""

    def record(self, *aggregates, **fields):
        raise IntegrityError("another writer saved this version first")


@pytest.fixture
def store() -> WriteApplication:
    return WriteApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def cache(tmp_path) -> SqliteCache:
    return SqliteCache(tmp_path / "cache.sqlite3")


@pytest.fixture
def bus(store, cache, tmp_path) -> Bus:
    return wiring.bus(store, tmp_path, cache=cache, clock=lambda: NOON)


def register(bus: Bus, name: str) -> int:
    command = RegisterUser(username=name, password="correct horse", email=f"{name}@example.com")
    return bus.execute(command).fields["uid"]


def refusal(bus: Bus, command: object) -> UpareError:
    with pytest.raises(UpareError) as refused:
        bus.execute(command)
    return refused.value


# --- the rules for values ---


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("  Ally  ", "Ally"),
        ("李雷", "李雷"),
        ("a", "a"),
        ("x" * 32, "x" * 32),
        ("👩\u200d💻", "👩\u200d💻"),
    ],
)
def test_a_nickname_is_trimmed_text_of_1_to_32_characters(given, kept):
    assert check_nickname(given) == kept


@pytest.mark.parametrize(
    "nickname",
    ["", "   ", "x" * 33, "al\tice", "al\nice", "evil\u202eecaf", "zero\u200bwidth", "\x00"],
)
def test_a_nickname_with_controls_or_of_a_bad_length_is_refused(nickname):
    with pytest.raises(UpareError) as refused:
        check_nickname(nickname)
    assert list(refused.value.errors) == ["nickname"]


@pytest.mark.parametrize("phone", ["123456", "+8613800138000", " 13800138000 ", "1" * 15])
def test_a_phone_is_6_to_15_digits_with_an_optional_plus(phone):
    assert check_phone(phone) == phone.strip()


@pytest.mark.parametrize("phone", ["12345", "1" * 16, "++123456", "138-0013-8000", "١٢٣٤٥٦٧", ""])
def test_other_phones_are_refused(phone):
    with pytest.raises(UpareError) as refused:
        check_phone(phone)
    assert list(refused.value.errors) == ["phone"]


@pytest.mark.parametrize(
    ("idcard", "reason"),
    [
        ("11010519491231002", "must be 17 digits and a check digit or X"),
        ("1101051949123100X2", "must be 17 digits and a check digit or X"),
        ("110105194902300020", "must hold a real birth date"),  # 30 February
        ("110105189912310023", "must hold a birth date from 1900 to today"),
        ("110105202612010027", "must hold a birth date from 1900 to today"),  # tomorrow
        ("110105194912310021", "has a wrong check digit"),
    ],
)
def test_an_identity_number_needs_its_format_a_real_birth_date_and_its_check_digit(idcard, reason):
    assert id_card_problem(idcard, TODAY) == reason


def test_a_valid_identity_number_passes_and_a_lower_case_x_reads_as_x():
    assert id_card_problem(ALICE_ID, TODAY) is None
    assert check_details({"idcard": ALICE_ID.lower()}, TODAY) == {"idcard": ALICE_ID}


def identity_numbers() -> st.SearchStrategy[str]:
    """Valid resident identity numbers: any region, a birth date from 1900 to TODAY."""
    region = st.integers(0, 999_999).map(lambda n: f"{n:06d}")
    born = st.dates(date(1900, 1, 1), TODAY).map(lambda day: day.strftime("%Y%m%d"))
    sequence = st.integers(0, 999).map(lambda n: f"{n:03d}")
    first17 = st.tuples(region, born, sequence).map("".join)
    return first17.map(lambda digits: digits + id_check_character(digits))


@given(identity_numbers())
def test_every_valid_identity_number_passes(idcard):
    assert id_card_problem(idcard, TODAY) is None


@given(identity_numbers(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_changed_character_of_an_identity_number_fails(idcard, position, character):
    if idcard[position] == character or (position < 17 and character == "X"):
        character = str((int(idcard[position].replace("X", "0")) + 1) % 10)
    changed = idcard[:position] + character + idcard[position + 1 :]
    assert id_card_problem(changed, TODAY) is not None


def test_every_bad_detail_field_is_named_at_once():
    with pytest.raises(UpareError) as refused:
        check_details(
            {
                "realname": "x" * 65,
                "idcard": "110105194912310021",
                "address": "line\nbreak",
                "gender": "yes",
                "nation": "汉族",
                "postalcode": "1000",
                "departmentcode": "CS 01",
                "majorcode": "",
                "leader": "\u202eboss",
            },
            TODAY,
        )
    assert refused.value.code == 100004
    assert set(refused.value.errors) == {
        "realname",
        "idcard",
        "address",
        "gender",
        "postalcode",
        "departmentcode",
        "leader",
    }


def test_detail_values_are_trimmed_and_an_empty_one_clears_its_field():
    details = {"realname": " 韩梅梅 ", "gender": "Female", "postalcode": "100871", "address": ""}
    assert check_details(details, TODAY) == {
        "realname": "韩梅梅",
        "gender": "female",
        "postalcode": "100871",
        "address": "",
    }


# --- modifyBasicInfo ---


def test_a_new_password_is_recorded_as_a_new_argon2id_hash(store, bus):
    uid = register(bus, "alice")
    bus.execute(ModifyBasicInfo(uid=uid, newpassword="battery staple", confirm="battery staple"))

    user = load_user(store, uid)
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "battery staple")
    assert not verify_password(user.password_hash, "correct horse")
    stored = b"".join(n.state for n in store.recorder.select_notifications(1, 100))
    assert b"battery staple" not in stored


def test_the_current_password_as_the_new_one_is_refused(bus):
    uid = register(bus, "alice")
    same = ModifyBasicInfo(uid=uid, newpassword="correct horse", confirm="correct horse")
    assert (refusal(bus, same).code, refusal(bus, same).status) == (202304, 400)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"newpassword": "battery staple"}, {"confirm"}),
        ({"newpassword": "battery staple", "confirm": "battery stapler"}, {"confirm"}),
        ({"newpassword": "short", "confirm": "short"}, {"newpassword"}),
        (
            {"newpassword": "short", "nickname": " ", "email": "no", "phone": "12"},
            {"newpassword", "confirm", "nickname", "email", "phone"},
        ),
        ({}, {"newpassword", "nickname", "email", "phone"}),  # nothing given at all
    ],
)
def test_bad_basic_values_are_refused_naming_each_of_them(store, bus, change, named):
    uid = register(bus, "alice")
    head = store.recorder.max_notification_id()

    refused = refusal(bus, ModifyBasicInfo(uid=uid, **change))

    assert (refused.code, set(refused.errors)) == (100004, named)
    assert store.recorder.max_notification_id() == head  # nothing stored


def test_changing_nickname_email_and_phone_moves_their_claims_in_one_transaction(store, bus):
    uid = register(bus, "alice")
    head = store.recorder.max_notification_id()
    change = ModifyBasicInfo(uid=uid, nickname="Ally", email="ally@example.com", phone="+861380")

    done = bus.execute(change)

    user = load_user(store, uid)
    assert (user.nickname, user.email, user.phone) == ("Ally", "ally@example.com", "+861380")
    assert claimed(store, "nickname", "ALLY") == claimed(store, "email", "Ally@Example.com")
    assert claimed(store, "phone", "+861380") == user.id
    assert claimed(store, "nickname", "alice") is None  # released
    assert claimed(store, "email", "alice@example.com") is None
    # 3 user events, 3 new claims, 2 releases: one save, one position
    assert done.position == head + 8
    assert len(store.recorder.select_notifications(head + 1, 100)) == 8


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("nickname", "BOB", 202005),
        ("nickname", "carl", 202005),  # carl's username, though his nickname is another
        ("email", "Bob@Example.com", 202003),
        ("phone", "5550100", 202004),
    ],
)
def test_a_value_someone_else_holds_is_refused_whatever_its_case(store, bus, field, value, code):
    uid = register(bus, "alice")
    bob, carl = register(bus, "bob"), register(bus, "carl")
    bus.execute(ModifyBasicInfo(uid=bob, phone="5550100"))
    bus.execute(ModifyBasicInfo(uid=carl, nickname="Carlos"))
    head = store.recorder.max_notification_id()

    change = {"nickname": "fine", "phone": "5550111", field: value}

    refused = refusal(bus, ModifyBasicInfo(uid=uid, **change))

    assert (refused.code, refused.status) == (code, 409)
    assert store.recorder.max_notification_id() == head  # the other fields did not change
    assert (load_user(store, uid).nickname, load_user(store, uid).phone) == ("alice", None)


def test_a_released_value_can_be_taken_by_someone_else_at_once(store, bus):
    alice, bob = register(bus, "alice"), register(bus, "bob")
    bus.execute(ModifyBasicInfo(uid=alice, nickname="Ally", phone="5550100"))
    bus.execute(ModifyBasicInfo(uid=alice, nickname="Allie", email="ally@x.io", phone="5550199"))

    bus.execute(ModifyBasicInfo(uid=bob, nickname="ALLY", email="Alice@Example.com"))
    bus.execute(ModifyBasicInfo(uid=bob, phone="5550100"))

    owner = load_user(store, bob).id
    assert claimed(store, "nickname", "ally") == claimed(store, "email", "alice@example.com")
    assert claimed(store, "phone", "5550100") == owner


def test_a_released_username_nickname_stays_out_of_reach_of_others(bus):
    alice, bob = register(bus, "alice"), register(bus, "bob")
    bus.execute(ModifyBasicInfo(uid=alice, nickname="Ally"))
    assert refusal(bus, ModifyBasicInfo(uid=bob, nickname="Alice")).code == 202005


def test_a_user_may_take_back_their_own_username_as_nickname(store, bus):
    uid = register(bus, "alice")
    bus.execute(ModifyBasicInfo(uid=uid, nickname="Ally"))
    bus.execute(ModifyBasicInfo(uid=uid, nickname="alice"))
    assert load_user(store, uid).nickname == "alice"
    assert claimed(store, "nickname", "alice") == load_user(store, uid).id


def test_the_values_the_user_has_already_change_nothing(store, bus):
    uid = register(bus, "alice")
    head = store.recorder.max_notification_id()

    done = bus.execute(ModifyBasicInfo(uid=uid, nickname=" alice ", email="alice@example.com"))

    assert done.position is None
    assert store.recorder.max_notification_id() == head


def test_a_change_of_case_is_recorded_and_keeps_the_claim(store, bus):
    uid = register(bus, "alice")
    bus.execute(ModifyBasicInfo(uid=uid, nickname="Alice"))
    user = load_user(store, uid)
    assert user.nickname == "Alice"
    assert claimed(store, "nickname", "alice") == user.id


def test_a_new_email_or_phone_is_unverified_until_its_code(store, bus):
    uid = register(bus, "alice")
    user = load_user(store, uid)
    user.verify("email", "alice@example.com")
    store.save(user)
    assert load_user(store, uid).is_verified("email")

    bus.execute(ModifyBasicInfo(uid=uid, email="ally@example.com", phone="5550100"))

    user = load_user(store, uid)
    assert not user.is_verified("email") and not user.is_verified("phone")


def test_a_password_change_ends_the_other_sessions_and_keeps_the_callers(bus, cache):
    uid = register(bus, "alice")
    mine, other = sessions.open_session(cache, uid), sessions.open_session(cache, uid)
    bystander = sessions.open_session(cache, register(bus, "bob"))
    change = ModifyBasicInfo(
        uid=uid,
        keep_session=digest(mine),
        newpassword="battery staple",
        confirm="battery staple",
    )

    bus.execute(change)

    assert sessions.read_session(cache, mine) == {"uid": uid}
    assert sessions.read_session(cache, other) is None
    assert sessions.read_session(cache, bystander) is not None


def test_other_changes_leave_the_sessions_alone(bus, cache):
    uid = register(bus, "alice")
    other = sessions.open_session(cache, uid)
    bus.execute(ModifyBasicInfo(uid=uid, nickname="Ally"))
    assert sessions.read_session(cache, other) == {"uid": uid}


def test_an_unknown_user_is_refused(bus):
    assert refusal(bus, ModifyBasicInfo(uid=99999, nickname="ghost")).code == 202001


@pytest.mark.parametrize(
    "command",
    [
        ModifyBasicInfo(uid=10001, nickname="Ally"),
        ModifyDetailInfo(uid=10001, details={"nation": "汉族"}),
    ],
    ids=["basic", "detail"],
)
def test_a_change_that_never_gets_past_concurrent_writers_fails_with_202303(
    cache, tmp_path, command
):
    store = Contended(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    store.save(User.register(uid=10001, username="alice", email="a@x.io", password_hash="x"))
    bus = wiring.bus(store, tmp_path, cache=cache, clock=lambda: NOON)

    refused = refusal(bus, command)

    assert (refused.code, refused.message, refused.status) == (
        202303,
        "Failed to update user information",
        500,
    )


# --- modifyDetailInfo ---


def test_details_are_recorded_as_one_event_and_merged_with_earlier_ones(store, bus):
    uid = register(bus, "alice")
    bus.execute(ModifyDetailInfo(uid=uid, details={"realname": "Alice Li", "idcard": ALICE_ID}))
    done = bus.execute(ModifyDetailInfo(uid=uid, details={"realname": "Alice Wang"}))

    assert load_user(store, uid).details == {"realname": "Alice Wang", "idcard": ALICE_ID}
    last = store.recorder.select_notifications(done.position, 1)[0]
    assert last.topic.endswith("User.DetailsChanged")


def test_an_identity_number_born_in_the_future_is_refused_by_the_clock(store, cache, tmp_path):
    born_today = "110105" + "20261130" + "002"
    idcard = born_today + id_check_character(born_today)
    yesterday = datetime(2026, 11, 29, 12, tzinfo=UTC)  # 20:00 in China: still 29 November
    bus = wiring.bus(store, tmp_path, cache=cache, clock=lambda: yesterday)
    uid = register(bus, "alice")

    refused = refusal(bus, ModifyDetailInfo(uid=uid, details={"idcard": idcard}))

    assert refused.errors == {"idcard": "must hold a birth date from 1900 to today"}


def test_no_detail_at_all_is_refused(bus):
    uid = register(bus, "alice")
    refused = refusal(bus, ModifyDetailInfo(uid=uid, details={}))
    assert refused.code == 100004 and "realname" in refused.errors
