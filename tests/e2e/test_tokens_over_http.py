"""The token endpoint over HTTP, against a real `upare serve` on PostgreSQL and Redis: of 20
concurrent exchanges of one code exactly one gets a token (the Authorization's version is the
lock), and the others, being replays, revoke it; a deleted token ends on every worker at once,
however long the workers kept it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from commands.users import RegisterUser
from tests import backends
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.oauth import REDIRECT, basic, create_client, issue_code
from upare.bootstrap import bootstrap

EXCHANGES = 20


@pytest.fixture
def server_env(settings) -> dict[str, str]:
    return backends.server_env(settings)  # the server reads the test's Redis keys


def alices_code(settings) -> tuple[int, str, str, dict[str, str]]:
    """Register alice and a client; return her uid, the client's id and secret, and the form
    that exchanges a code she gave it."""
    with bootstrap(settings) as container:
        uid = container.bus.execute(
            RegisterUser(username="alice", password="correct horse", email="a@example.com")
        ).fields["uid"]
        client_id, secret = create_client(container)
        assert secret is not None
        code = issue_code(container.app, uid, client_id)
    return (
        uid,
        client_id,
        secret,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
        },
    )


@pytest.mark.parametrize("settings", ["postgres+redis"], indirect=True)
def test_twenty_concurrent_exchanges_of_one_code_give_exactly_one_token(settings, server):
    _, client_id, secret, form = alices_code(settings)
    start = threading.Barrier(EXCHANGES)
    session = requests.Session()

    def exchange(_: int) -> requests.Response:
        start.wait()
        headers = {"Authorization": basic(client_id, secret)}
        return requests.post(
            f"{server}/api/oauth/accesstoken", data=form, headers=headers, timeout=30
        )

    with ThreadPoolExecutor(EXCHANGES) as pool:
        answers = list(pool.map(exchange, range(EXCHANGES)))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [401] * (EXCHANGES - 1)
    assert {answer.json()["error_code"] for answer in answers if answer.status_code == 401} == {
        201215
    }
    assert all(answer.headers["Cache-Control"] == "no-store" for answer in answers)
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    bearer = {"Authorization": f"Bearer {winner['access_token']}"}
    used = session.post(f"{server}/api/user/logout", headers=bearer, timeout=10).json()
    assert used["error_code"] == 201203  # the replays revoked what the code gave


@pytest.mark.parametrize("settings", ["postgres+redis"], indirect=True)
def test_a_deleted_token_ends_on_every_worker_at_once(settings, server):
    uid, client_id, secret, form = alices_code(settings)
    headers = {"Authorization": basic(client_id, secret)}
    token = requests.post(
        f"{server}/api/oauth/accesstoken", data=form, headers=headers, timeout=30
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}

    def info() -> int:  # a new connection each time: either worker may answer
        answer = requests.post(
            f"{server}/api/user/info", data={"uid": uid}, headers=bearer, timeout=10
        )
        return answer.json()["error_code"]

    assert {info() for _ in range(40)} <= {0, 202001}  # both workers keep the token
    deleted = requests.post(f"{server}/api/oauth/delete", headers=bearer, timeout=10).json()
    assert deleted["error_code"] == 0
    assert {info() for _ in range(40)} == {201203}
