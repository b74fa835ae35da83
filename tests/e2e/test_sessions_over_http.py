"""Login, logout, info and the lockout against a real `upare serve`: on SQLite, and on
PostgreSQL with Redis. The captcha is in test mode here (test_captchas_over_http.py has the
real ones)."""

from __future__ import annotations

import os
import subprocess

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests import backends
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.e2e.conftest import UPARE, server_log
from upare.settings import Settings

ALICE = {"username": "alice", "password": "correct horse", "email": "alice@example.com"}
BOB = {"username": "bob", "password": "battery staple", "email": "bob@example.com"}


@pytest.fixture
def server_env(settings: Settings) -> dict[str, str]:
    return {**backends.server_env(settings), "UPARE_CAPTCHA_TEST_MODE": "1"}


class FromAddress(HTTPAdapter):
    """Connect from another loopback address, so that the server sees another client."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(address: str) -> requests.Session:
    client = requests.Session()
    client.mount("http://", FromAddress(address))
    return client


def register(server: str, form: dict[str, str]) -> dict:
    return requests.post(f"{server}/api/User/register", data=form, timeout=10).json()


def login(server: str, client: requests.Session | None = None, **form: str) -> requests.Response:
    form = {"username": "alice", "password": "correct horse", "captcha": "PASSED", **form}
    return (client or requests).post(f"{server}/api/User/login", data=form, timeout=10)


def refused(answer: requests.Response) -> tuple[int, int]:
    return answer.status_code, answer.json()["error_code"]


def test_a_user_logs_in_sees_their_own_profile_and_logs_out(server):
    done = register(server, ALICE)
    with requests.Session() as browser:
        answer = login(server, browser, username="Alice@Example.com", remember="yes")
        assert (answer.json()["uid"], answer.json()["nickname"]) == (done["uid"], "alice")
        cookie = answer.headers["Set-Cookie"]
        assert cookie.startswith("sid=") and "Secure" not in cookie
        assert {"HttpOnly", "Max-Age=2592000", "Path=/", "SameSite=Lax"} <= set(cookie.split("; "))

        own = browser.post(
            f"{server}/api/User/info", data={"min_position": done["position"]}, timeout=10
        ).json()
        assert own["user"]["email"] == "alice@example.com"
        assert (own["user"]["email_verified"], own["user"]["phone_verified"]) == (False, False)

        out = browser.post(f"{server}/api/User/logout", timeout=10)
        assert out.json()["error_code"] == 0
        assert "expires=Thu, 01 Jan 1970" in out.headers["Set-Cookie"]
        assert refused(browser.post(f"{server}/api/User/info", timeout=10)) == (401, 202101)
        assert refused(browser.post(f"{server}/api/User/logout", timeout=10)) == (401, 202101)


def test_login_refusals_answer_their_codes_and_statuses(server):
    register(server, ALICE)
    assert refused(login(server, password="")) == (400, 202102)
    assert refused(login(server, username="")) == (400, 202102)
    assert refused(login(server, captcha="WRONG")) == (400, 200002)
    assert refused(login(server, username="carol")) == (404, 202001)
    assert refused(login(server, password="wrong horse")) == (401, 202103)
    assert refused(requests.get(f"{server}/api/User/login", timeout=10)) == (405, 200001)
    info = requests.post(f"{server}/api/User/info", data={"uid": 99999}, timeout=10)
    assert refused(info) == (404, 202001)


def test_past_five_failures_the_account_and_the_address_are_locked(server):
    register(server, ALICE)
    register(server, BOB)
    clients = {n: client_at(f"127.0.0.{n}") for n in range(2, 10)}
    for n in range(2, 7):  # alice fails from five addresses, once from each
        assert refused(login(server, clients[n], password="wrong horse")) == (401, 202103)

    locked = login(server, clients[7])  # the right password, from a sixth address
    assert refused(locked) == (429, 201204)
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert login(server, clients[2], **BOB).status_code == 200  # 127.0.0.2 failed only once

    for name in ("carol", "dave", "erin", "frank"):  # four more failures from 127.0.0.2
        assert refused(login(server, clients[2], username=name)) == (404, 202001)
    assert refused(login(server, clients[2], **BOB)) == (429, 201204)
    assert login(server, clients[8], **BOB).status_code == 200


def test_the_server_warns_of_test_mode_and_logs_no_query_string(server, tmp_path):
    register(server, {**ALICE, "password": "query-secret-1"})
    answer = requests.post(
        f"{server}/api/User/login?password=query-secret-1&captcha=PASSED",
        data={"username": "alice"},
        timeout=10,
    )
    assert answer.status_code == 200
    requests.get(f"{server}/api/Image/captchaVerify?captcha=QUERYSECRET2", timeout=10)

    logged = '"GET /api/Image/captchaVerify HTTP/1.1" 200'  # the access log has the request
    log = server_log(tmp_path, until=logged)
    assert "UPARE_CAPTCHA_TEST_MODE is on" in log
    assert '"POST /api/User/login HTTP/1.1" 200' in log
    assert "query-secret-1" not in log and "QUERYSECRET2" not in log


def test_production_refuses_to_start_in_test_mode(tmp_path):
    env = {
        **os.environ,
        "UPARE_DATA_DIR": str(tmp_path),
        "UPARE_ENV": "production",
        "UPARE_SECRET_KEY": "a real secret",
        "UPARE_CAPTCHA_TEST_MODE": "1",
    }
    run = subprocess.run(
        [UPARE, "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    assert "UPARE_CAPTCHA_TEST_MODE must not be on when UPARE_ENV=production" in run.stderr


def test_a_logout_ends_the_session_on_every_worker_at_once(server):
    seen = {"min_position": register(server, ALICE)["position"]}
    sid = login(server).cookies["sid"]

    def info() -> int:  # a new connection each time: either worker may answer
        answer = requests.post(
            f"{server}/api/User/info", data=seen, cookies={"sid": sid}, timeout=10
        )
        return answer.status_code

    assert {info() for _ in range(40)} == {200}  # both workers keep the session (on Redis)
    out = requests.post(f"{server}/api/User/logout", cookies={"sid": sid}, timeout=10)
    assert out.json()["error_code"] == 0
    assert {info() for _ in range(40)} == {401}
