"""Login, logout and info in process: on SQLite, and on PostgreSQL with Redis."""

from __future__ import annotations

import time
from dataclasses import replace

import falcon.testing
import pytest
from limits import RateLimitItemPerSecond

from api.app import create_app
from commands import credentials
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from upare import sessions
from upare.bootstrap import bootstrap
from workers.store_feed import StoreFeed

ALICE = {"username": "alice", "password": "correct horse", "email": "alice@example.com"}
BOB = {"username": "bob", "password": "battery staple", "email": "bob@example.com"}
PASSED = {"captcha": "PASSED"}  # test mode


@pytest.fixture
def container(settings):
    with bootstrap(replace(settings, captcha_test_mode=True)) as wired:
        yield wired


@pytest.fixture
def client(container) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(container))


@pytest.fixture
def users(client, container) -> dict[str, int]:
    """Register alice and bob and project them; return their uids."""
    uids = {
        form["username"]: client.simulate_post("/api/User/register", params=form).json["uid"]
        for form in (ALICE, BOB)
    }
    feed = StoreFeed(container.log, container.db, container.projections)
    while feed.run_once():
        pass
    return uids


def login(client, username="alice", password=ALICE["password"], address="10.0.0.1", **request):
    """Log in (from this client address) with the test mode's captcha."""
    form = {"username": username, "password": password, **PASSED, **request.pop("params", {})}
    return client.simulate_post("/api/User/login", params=form, remote_addr=address, **request)


def refused(answer) -> tuple[int, int]:
    return answer.status_code, answer.json["error_code"]


@pytest.mark.parametrize("name", ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"])
def test_login_by_username_or_email_answers_uid_and_nickname(client, users, name):
    answer = login(client, name)
    assert answer.status_code == 200, answer.text
    assert (answer.json["uid"], answer.json["nickname"]) == (users["alice"], "alice")
    assert "position" not in answer.json  # a login stores no event


@pytest.mark.parametrize(("remember", "seconds"), [({}, 86400), ({"remember": "true"}, 2592000)])
def test_the_session_cookie_is_httponly_lax_for_a_day_or_remembered_thirty(
    client, users, remember, seconds
):
    cookie = login(client, params=remember).cookies["sid"]
    assert (cookie.max_age, cookie.path, cookie.same_site) == (seconds, "/", "Lax")
    assert cookie.http_only and not cookie.secure
    assert len(cookie.value) >= 43  # 256 bits, URL-safe


def test_the_session_cookie_is_secure_when_configured(container, users):
    container.settings = replace(container.settings, cookie_secure=True)
    cookie = login(falcon.testing.TestClient(create_app(container))).cookies["sid"]
    assert cookie.secure and cookie.http_only


def test_the_session_is_the_logged_in_users_and_info_answers_their_own_profile(client, users):
    sid = login(client, "alice@example.com").cookies["sid"].value
    answer = client.simulate_post("/api/User/info", cookies={"sid": sid})
    assert answer.status_code == 200
    assert answer.json["user"] == {
        "uid": users["alice"],
        "username": "alice",
        "nickname": "alice",
        "avatar": None,
        "email": "alice@example.com",
        "email_verified": False,
        "phone": None,
        "phone_verified": False,
        "details": {},
    }
    public = client.simulate_get(
        "/api/User/info", params={"uid": users["bob"]}, cookies={"sid": sid}
    )
    assert "email" not in public.json["user"] and public.json["user"]["username"] == "bob"


def test_info_answers_202101_without_a_session_and_202001_for_an_unknown_uid(client, users):
    assert refused(client.simulate_post("/api/User/info")) == (401, 202101)
    assert refused(client.simulate_post("/api/User/info", params={"uid": 99999})) == (404, 202001)


@pytest.mark.parametrize(
    "form",
    [
        {"password": "correct horse"},
        {"username": "alice"},
        {"username": "", "password": "correct horse"},
        {"username": "alice", "password": ""},
        {},
    ],
)
def test_a_missing_username_or_password_answers_202102(client, users, form):
    answer = client.simulate_post("/api/User/login", params={**form, **PASSED})
    assert refused(answer) == (400, 202102)
    assert answer.json["message"] == "Username and password are required"


def test_an_unknown_account_answers_202001_and_a_wrong_password_202103(client, users):
    unknown, wrong = login(client, "carol"), login(client, password="wrong horse")
    assert refused(unknown) == (404, 202001)
    assert refused(wrong) == (401, 202103)
    assert wrong.json["message"] == "Incorrect password"
    assert "sid" not in unknown.cookies and "sid" not in wrong.cookies


def test_login_gives_a_fresh_session_id_and_ends_the_one_the_caller_had(client, container, users):
    anonymous = client.simulate_get("/api/Image/captcha").cookies["sid"].value
    answer = login(client, cookies={"sid": anonymous})
    fresh = answer.cookies["sid"].value
    assert fresh != anonymous
    assert sessions.read_session(container.cache, anonymous) is None
    assert sessions.read_session(container.cache, fresh) == {"uid": users["alice"]}

    again = login(client, "bob", "battery staple", cookies={"sid": fresh}).cookies["sid"].value
    assert sessions.read_session(container.cache, fresh) is None
    assert sessions.read_session(container.cache, again) == {"uid": users["bob"]}


def test_logout_ends_the_session_and_expires_the_cookie(client, container, users):
    sid = login(client).cookies["sid"].value
    answer = client.simulate_post("/api/User/logout", cookies={"sid": sid})
    assert (answer.status_code, answer.json["error_code"]) == (200, 0)
    cookie = answer.cookies["sid"]
    assert cookie.value == "" and cookie.expires.year == 1970 and cookie.http_only
    assert sessions.read_session(container.cache, sid) is None
    assert refused(client.simulate_post("/api/User/info", cookies={"sid": sid})) == (401, 202101)
    assert refused(client.simulate_post("/api/User/logout", cookies={"sid": sid})) == (401, 202101)


def fail_five_times(client, username: str, addresses: list[str]) -> None:
    for address in addresses:
        assert refused(login(client, username, "wrong horse", address))[1] in (202001, 202103)


def test_past_five_failures_an_account_is_locked_from_every_address_whatever_the_password(
    client, users
):
    addresses = [f"10.0.1.{n}" for n in range(1, 6)]  # one failure each: no address is locked
    fail_five_times(client, "alice", addresses)

    for password in ("correct horse", "wrong horse"):
        answer = login(client, "alice@example.com", password, "10.0.2.1")
        assert refused(answer) == (429, 201204)
        assert answer.json["message"] == "API requests out of rate limit"
        assert 0 < int(answer.headers["Retry-After"]) <= 15 * 60
    assert login(client, "bob", "battery staple", addresses[0]).status_code == 200


def test_past_five_failures_an_address_is_locked_for_every_account(client, users):
    fail_five_times(client, "carol", ["10.0.3.1"] * 3)  # unknown accounts count too
    fail_five_times(client, "bob", ["10.0.3.1"] * 2)

    answer = login(client, address="10.0.3.1")
    assert refused(answer) == (429, 201204)
    assert int(answer.headers["Retry-After"]) > 0
    assert refused(login(client, "carol", address="10.0.3.1")) == (429, 201204)
    assert login(client, address="10.0.3.2").status_code == 200


def test_a_lock_ends_when_its_window_passes(client, users, monkeypatch):
    monkeypatch.setattr(credentials, "LOGIN_FAILURES", RateLimitItemPerSecond(5, 2))
    fail_five_times(client, "alice", ["10.0.4.1"] * 5)
    assert refused(login(client, address="10.0.4.1")) == (429, 201204)
    time.sleep(2.1)
    assert login(client, address="10.0.4.1").status_code == 200


def test_a_successful_login_clears_its_accounts_failures(client, users):
    fail_five_times(client, "alice", [f"10.0.5.{n}" for n in range(1, 5)])
    assert login(client, address="10.0.5.5").status_code == 200
    fail_five_times(client, "alice", [f"10.0.5.{n}" for n in range(6, 10)])
    assert login(client, address="10.0.5.10").status_code == 200  # 4 failures since: not locked
