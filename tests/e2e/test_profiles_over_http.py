"""modifyBasicInfo and modifyDetailInfo end to end: a real `upare serve` on SQLite (cache in a
file) and on PostgreSQL with Redis, spoken to over HTTP. Sessions are opened in the server's
cache as login opens them; captchas pass by test mode (CONTRACT 4) or as drawn."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from commands.users import find_account
from domain.keys import digest
from domain.passwords import verify_password
from tests import backends
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from upare import captchas, sessions
from upare.bootstrap import bootstrap, build_cache

PASSED = captchas.TEST_ANSWER


@pytest.fixture
def server_env(settings) -> dict[str, str]:
    return {**backends.server_env(settings), "UPARE_CAPTCHA_TEST_MODE": "1"}


@pytest.fixture
def cache(settings):
    """Return the server's cache (the same SQLite file, or the same Redis)."""
    return build_cache(settings)


def post(server: str, path: str, sid: str | None = None, **data: str) -> requests.Response:
    cookies = {"sid": sid} if sid else None
    return requests.post(f"{server}/api/User/{path}", data=data, cookies=cookies, timeout=30)


def register(server: str, name: str, email: str | None = None) -> int:
    email = email or f"{name}@example.com"
    answer = post(server, "register", username=name, password="correct horse", email=email)
    assert answer.json()["error_code"] == 0, answer.text
    return answer.json()["uid"]


def code(answer: requests.Response) -> tuple[int, int]:
    return answer.status_code, answer.json()["error_code"]


def test_a_password_change_ends_the_other_session_keeps_the_callers_and_frees_the_old_email(
    server, settings, cache
):
    alice = register(server, "alice")
    mine, other = sessions.open_session(cache, alice), sessions.open_session(cache, alice)
    captchas.remember(cache, digest(mine), "default", "K7M2P")  # as drawn for mine

    changed = post(
        server,
        "modifyBasicInfo",
        mine,
        newpassword="battery staple",
        confirm="battery staple",
        nickname="Ally",
        email="ally@example.com",
        captcha="k7m2p",
    )

    assert code(changed) == (200, 0) and changed.json()["position"] > 0
    own = post(server, "info", mine)  # read-your-writes: no min_position needed
    assert code(own) == (200, 0) and "X-Stale" not in own.headers
    assert own.json()["user"]["nickname"] == "Ally"
    assert code(post(server, "info", other)) == (401, 202101)
    assert register(server, "bob", email="Alice@Example.com")  # the old email, at once
    taken = post(server, "validateUniqueEmail", email="ALLY@example.com")
    assert code(taken) == (409, 202003)
    with bootstrap(settings, install=False) as store:
        account = find_account(store.app, "ally@example.com")
    assert account is not None and verify_password(account.password_hash, "battery staple")


def test_each_refusal_answers_its_code_over_http(server, cache):
    alice, bob = register(server, "alice"), register(server, "bob")
    sid, bobs = sessions.open_session(cache, alice), sessions.open_session(cache, bob)
    assert code(post(server, "modifyBasicInfo", bobs, phone="5550100", captcha=PASSED)) == (200, 0)

    def basic(**fields: str) -> tuple[int, int]:
        return code(post(server, "modifyBasicInfo", sid, **{"captcha": PASSED, **fields}))

    assert code(post(server, "modifyBasicInfo", nickname="x", captcha=PASSED)) == (401, 202101)
    assert code(post(server, "modifyBasicInfo", sid, nickname="x", captcha="WRONG")) == (
        400,
        200002,
    )
    assert basic() == (400, 100004)
    assert basic(newpassword="battery staple", confirm="battery") == (400, 100004)
    assert basic(newpassword="correct horse", confirm="correct horse") == (400, 202304)
    assert basic(nickname="BOB") == (409, 202005)
    assert basic(email="bob@EXAMPLE.com") == (409, 202003)
    assert basic(phone="5550100") == (409, 202004)

    bad = post(server, "modifyDetailInfo", sid, idcard="110105194912310021", postalcode="1")
    assert code(bad) == (400, 100004)
    assert set(bad.json()["errors"]) == {"idcard", "postalcode"}
    assert code(post(server, "modifyDetailInfo", sid)) == (400, 100004)
    assert code(post(server, "modifyDetailInfo", nation="汉族")) == (401, 202101)
    done = post(server, "modifyDetailInfo", sid, idcard="11010519491231002x", gender="female")
    assert code(done) == (200, 0) and done.json()["position"] > 0


def test_users_racing_for_one_nickname_over_http_give_one_winner(server, cache):
    uids = [register(server, f"racer{n}") for n in range(6)]
    sids = [sessions.open_session(cache, uid) for uid in uids]

    def attempt(sid: str) -> int:
        answer = post(server, "modifyBasicInfo", sid, nickname="Winner", captcha=PASSED)
        return answer.json()["error_code"]

    with ThreadPoolExecutor(len(sids)) as pool:
        codes = list(pool.map(attempt, sids))

    assert sorted(codes) == [0] + [202005] * (len(sids) - 1)
    winner = uids[codes.index(0)]
    profile = post(server, "info", sids[codes.index(0)], uid=str(winner)).json()["user"]
    assert profile["nickname"] == "Winner"


def test_other_readers_see_a_new_nickname_soon_however_often_they_read_the_old(server, cache):
    alice = register(server, "alice")
    mine = sessions.open_session(cache, alice)
    reader = requests.Session()  # anonymous: reads kept in the server's processes may answer

    def nickname() -> str | None:
        answer = reader.get(f"{server}/api/User/info", params={"uid": alice}, timeout=30)
        return answer.json().get("user", {}).get("nickname")

    deadline = time.monotonic() + 10
    while nickname() is None and time.monotonic() < deadline:  # until it is projected
        time.sleep(0.02)
    before = {nickname() for _ in range(50)}  # both workers answer, and keep the answer
    changed = post(server, "modifyBasicInfo", mine, nickname="Ally", captcha=PASSED)
    assert code(changed) == (200, 0)
    changed_at = time.monotonic()
    while nickname() != "Ally" and time.monotonic() - changed_at < 10:
        time.sleep(0.02)

    assert before == {"alice"}
    assert {nickname() for _ in range(50)} == {"Ally"}


def test_a_writer_reads_each_of_its_writes_on_whichever_worker_answers(server, cache):
    alice = register(server, "alice")
    mine = sessions.open_session(cache, alice)
    deadline = time.monotonic() + 10
    while code(post(server, "info", mine)) != (200, 0) and time.monotonic() < deadline:
        time.sleep(0.02)  # until it is projected

    for number in range(5):
        for _ in range(10):  # new connections: both workers keep the session and its last write
            post(server, "info", mine)
        changed = post(server, "modifyBasicInfo", mine, nickname=f"Ally{number}", captcha=PASSED)
        assert code(changed) == (200, 0)
        seen = {post(server, "info", mine).json()["user"]["nickname"] for _ in range(10)}
        assert seen == {f"Ally{number}"}  # no min_position: the session's last write
