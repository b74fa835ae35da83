"""modifyBasicInfo and modifyDetailInfo in process, on the embedded default: each code path,
with real sessions and captchas in the cache."""

from __future__ import annotations

import json

import falcon.testing
import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.details import FIELDS as DETAIL_FIELDS
from domain.keys import digest
from queries import users
from tests.credentials import issue_token
from upare import captchas, sessions

BASIC = "/api/User/modifyBasicInfo"
DETAIL = "/api/User/modifyDetailInfo"
ALICE_ID = "11010519491231002X"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def alice(client, project) -> int:
    form = {"username": "alice", "password": "correct horse", "email": "alice@example.com"}
    uid = client.simulate_post("/api/User/register", params=form).json["uid"]
    client.simulate_post(
        "/api/User/register",
        params={"username": "bob", "password": "correct horse", "email": "bob@example.com"},
    )
    project()
    return uid


@pytest.fixture
def sid(embedded, alice) -> str:
    """Return the `sid` cookie of a session of alice's."""
    return sessions.open_session(embedded.cache, alice)


def with_captcha(embedded, sid: str, answer: str = "K7M2P") -> str:
    """Draw a captcha for this session, as /api/Image/captcha would, and return its answer."""
    captchas.remember(embedded.cache, digest(sid), "default", answer)
    return answer.lower()  # answers are case-insensitive


def basic(client, embedded, sid: str, **fields) -> falcon.testing.Result:
    """Post modifyBasicInfo from this session, with the right captcha."""
    fields = {"captcha": with_captcha(embedded, sid), **fields}
    return client.simulate_post(BASIC, params=fields, cookies={"sid": sid})


def code(result: falcon.testing.Result) -> tuple[int, int]:
    return result.status_code, result.json["error_code"]


@pytest.mark.parametrize("path", [BASIC, DETAIL])
def test_nobody_logged_in_is_refused(client, alice, path):
    assert code(client.simulate_post(path, params={"nickname": "x", "nation": "x"})) == (
        401,
        202101,
    )


@pytest.mark.parametrize("path", [BASIC, DETAIL])
def test_a_get_is_refused(client, path):
    assert code(client.simulate_get(path)) == (405, 200001)


def test_a_token_without_the_user_info_scope_is_refused(client, embedded, alice):
    issue_token(embedded.cache, "calendar-token", alice, scopes=("calendar",))
    answer = client.simulate_post(
        DETAIL, params={"nation": "汉族"}, headers={"Authorization": "Bearer calendar-token"}
    )
    assert code(answer) == (403, 201206)


def test_a_token_with_the_user_info_scope_may_set_details(client, embedded, alice):
    issue_token(embedded.cache, "profile-token", alice, scopes=("user_info",))
    answer = client.simulate_post(
        DETAIL, params={"nation": "汉族"}, headers={"Authorization": "Bearer profile-token"}
    )
    assert code(answer) == (200, 0)


@pytest.mark.parametrize(
    "captcha",
    [None, "", "WRONG"],
    ids=["missing", "empty", "wrong"],
)
def test_a_missing_or_wrong_captcha_is_refused_and_changes_nothing(
    client, embedded, sid, alice, captcha
):
    with_captcha(embedded, sid)
    head = embedded.log.head()
    fields = {"nickname": "Ally"} if captcha is None else {"nickname": "Ally", "captcha": captcha}
    answer = client.simulate_post(BASIC, params=fields, cookies={"sid": sid})
    assert code(answer) == (400, 200002)
    assert answer.json["message"] == "Invalid captcha"
    assert embedded.log.head() == head  # nothing stored


def test_a_captcha_answered_once_cannot_be_used_again(client, embedded, sid):
    answer = with_captcha(embedded, sid)
    first = client.simulate_post(
        BASIC, params={"nickname": "Ally", "captcha": answer}, cookies={"sid": sid}
    )
    again = client.simulate_post(
        BASIC, params={"nickname": "Allie", "captcha": answer}, cookies={"sid": sid}
    )
    assert code(first) == (200, 0)
    assert code(again) == (400, 200002)


def test_a_captcha_drawn_for_another_session_does_not_pass(client, embedded, alice, sid):
    other = sessions.open_session(embedded.cache, None)
    answer = with_captcha(embedded, other)
    result = client.simulate_post(
        BASIC, params={"nickname": "Ally", "captcha": answer}, cookies={"sid": sid}
    )
    assert code(result) == (400, 200002)


def test_changes_answer_their_position_and_show_in_the_own_profile(
    client, embedded, project, alice, sid
):
    answer = basic(client, embedded, sid, nickname="Ally", email="ally@x.io", phone="+8613800")
    assert code(answer) == (200, 0)
    assert answer.json["position"] == embedded.log.head()

    project()
    profile = users.own_profile(embedded.db, alice)
    assert (profile["nickname"], profile["email"], profile["phone"]) == (
        "Ally",
        "ally@x.io",
        "+8613800",
    )
    assert not profile["email_verified"] and not profile["phone_verified"]
    info = client.simulate_post("/api/User/info", cookies={"sid": sid})
    assert info.json["user"]["nickname"] == "Ally" and "X-Stale" not in info.headers


def test_a_json_body_works_as_a_form_does(client, embedded, sid, alice):
    answer = client.simulate_post(
        BASIC,
        json={"nickname": "Ally", "captcha": with_captcha(embedded, sid)},
        cookies={"sid": sid},
    )
    assert code(answer) == (200, 0)


def test_nothing_to_change_is_refused(client, embedded, sid):
    answer = basic(client, embedded, sid)
    assert code(answer) == (400, 100004)
    assert set(answer.json["errors"]) == {"newpassword", "nickname", "email", "phone"}


def test_what_the_user_has_already_answers_0_without_a_position(client, embedded, sid):
    answer = basic(client, embedded, sid, nickname="alice")
    assert code(answer) == (200, 0)
    assert "position" not in answer.json


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"newpassword": "battery staple"}, {"confirm"}),
        ({"newpassword": "battery staple", "confirm": "battery"}, {"confirm"}),
        ({"newpassword": "short", "confirm": "short"}, {"newpassword"}),
        ({"nickname": "", "email": "nope", "phone": "call me"}, {"nickname", "email", "phone"}),
    ],
)
def test_bad_values_are_named_in_one_100004(client, embedded, sid, fields, named):
    answer = basic(client, embedded, sid, **fields)
    assert code(answer) == (400, 100004)
    assert set(answer.json["errors"]) == named


def test_the_current_password_as_the_new_one_is_refused(client, embedded, sid):
    answer = basic(client, embedded, sid, newpassword="correct horse", confirm="correct horse")
    assert code(answer) == (400, 202304)
    assert answer.json["message"] == "The old and new passwords are the same"


@pytest.mark.parametrize(
    ("fields", "refused", "message"),
    [
        ({"nickname": "BOB"}, 202005, "The Nick name already exists"),
        ({"email": "Bob@Example.com"}, 202003, "The email already exists"),
        ({"phone": "5550100"}, 202004, "The phone number already exists"),
    ],
)
def test_a_value_someone_else_holds_answers_its_code(
    client, embedded, alice, sid, fields, refused, message
):
    bob = sessions.open_session(embedded.cache, alice + 1)
    assert code(basic(client, embedded, bob, phone="5550100")) == (200, 0)

    answer = basic(client, embedded, sid, **fields)

    assert code(answer) == (409, refused)
    assert answer.json["message"] == message


def test_a_password_change_ends_the_other_sessions_but_not_the_callers(
    client, embedded, project, alice, sid
):
    other = sessions.open_session(embedded.cache, alice)
    answer = basic(client, embedded, sid, newpassword="battery staple", confirm="battery staple")
    assert code(answer) == (200, 0)

    project()
    mine = client.simulate_post("/api/User/info", cookies={"sid": sid})
    theirs = client.simulate_post("/api/User/info", cookies={"sid": other})
    assert code(mine) == (200, 0)
    assert code(theirs) == (401, 202101)


def test_a_change_that_keeps_meeting_concurrent_writers_answers_202303(
    client, embedded, sid, monkeypatch
):
    def conflict(*aggregates, **fields):
        raise IntegrityError("another writer saved this version first")

    monkeypatch.setattr(embedded.app, "record", conflict)
    answer = basic(client, embedded, sid, nickname="Ally")
    assert code(answer) == (500, 202303)
    assert answer.json["message"] == "Failed to update user information"


def test_details_are_recorded_and_show_in_the_own_profile(client, embedded, project, alice, sid):
    fields = {
        "realname": "李雷",
        "idcard": ALICE_ID.lower(),
        "gender": "Male",
        "postalcode": "100871",
    }
    answer = client.simulate_post(DETAIL, params=fields, cookies={"sid": sid})
    assert code(answer) == (200, 0)
    assert answer.json["position"] == embedded.log.head()

    project()
    assert users.own_profile(embedded.db, alice)["details"] == {
        "realname": "李雷",
        "idcard": ALICE_ID,
        "gender": "male",
        "postalcode": "100871",
    }


def test_every_bad_detail_is_named_in_one_100004(client, sid):
    fields = {
        "realname": "ok",
        "idcard": "110105194912310021",
        "gender": "robot",
        "postalcode": "1008",
        "address": "tab\there",
    }
    answer = client.simulate_post(DETAIL, params=fields, cookies={"sid": sid})
    assert code(answer) == (400, 100004)
    assert set(answer.json["errors"]) == {"idcard", "gender", "postalcode", "address"}


def test_no_detail_at_all_is_refused(client, sid):
    answer = client.simulate_post(DETAIL, cookies={"sid": sid})
    assert code(answer) == (400, 100004)
    assert "idcard" in answer.json["errors"]


ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)  # any code point
WITH_SURROGATE = st.tuples(ANY_TEXT, st.characters(categories=["Cs"])).map("".join)
TEXTS = ANY_TEXT | WITH_SURROGATE  # a JSON body may escape a lone surrogate
VALUES = TEXTS | TEXTS.map(lambda text: f"{text}@x.io")  # some pass the email pattern


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(["nickname", "email", "phone"]), VALUES)
def test_any_text_in_a_basic_field_answers_a_clear_code(client, embedded, sid, field, value):
    body = json.dumps({field: value, "captcha": with_captcha(embedded, sid)})
    answer = client.simulate_post(BASIC, body=body, headers=JSON, cookies={"sid": sid})
    assert answer.json["error_code"] in (0, 100004, 202003, 202004, 202005), answer.text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(st.sampled_from(DETAIL_FIELDS), TEXTS | st.from_regex(r"[0-9]{17}[0-9X]")))
def test_any_text_in_the_detail_fields_answers_0_or_100004(client, sid, fields):
    answer = client.simulate_post(
        DETAIL, body=json.dumps(fields), headers=JSON, cookies={"sid": sid}
    )
    assert answer.json["error_code"] in (0, 100004), answer.text
    if answer.json["error_code"] == 100004:
        assert answer.json["errors"]
