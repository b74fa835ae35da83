"""SNS binding and the inbox end to end: `upare sns ticket`, then a real `upare serve` over HTTP,
on the embedded default and on PostgreSQL + Redis."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import requests

from tests import backends
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.credentials import open_session
from tests.e2e.conftest import UPARE
from upare.bootstrap import build_cache
from upare.cache import Cache

KEY = "an e2e secret key"
PASSWORD = "correct horse"


@pytest.fixture
def server_env(settings) -> dict[str, str]:
    return {**backends.server_env(settings), "UPARE_SECRET_KEY": KEY}


@pytest.fixture
def cache(settings) -> Cache:
    """Return the server's cache (the same SQLite file, or the same Redis), to open sessions
    in it as login does."""
    return build_cache(settings)


def cli_ticket(openid: str, key: str = KEY) -> str:
    printed = subprocess.run(
        [UPARE, "sns", "ticket", "--channel", "weibo", "--openid", openid],
        env={**os.environ, "UPARE_SECRET_KEY": key},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return printed.stdout.strip()


def post(server: str, endpoint: str, sid: str | None = None, **data) -> requests.Response:
    cookies = {"sid": sid} if sid else None
    return requests.post(f"{server}/api/User/{endpoint}", data=data, cookies=cookies, timeout=15)


def login(cache: Cache, uid: int) -> str:
    sid = uuid.uuid4().hex
    open_session(cache, sid, uid)
    return sid


def test_a_cli_ticket_binds_unbinds_and_binds_elsewhere(server, cache):
    openid = uuid.uuid4().hex
    sns_ticket = cli_ticket(openid)
    fields = {"username": "alice", "password": PASSWORD, "confirm": PASSWORD}
    fields["email"] = "alice@example.com"
    registered = post(server, "snsreg", type="reg", sns_ticket=sns_ticket, **fields)
    assert registered.status_code == 200, registered.text
    alice = login(cache, registered.json()["uid"])
    bob = post(server, "register", username="bob", password=PASSWORD, email="bob@x.io").json()

    taken = post(
        server, "snsreg", type="log", sns_ticket=sns_ticket, username="bob", password=PASSWORD
    )
    assert (taken.status_code, taken.json()["error_code"]) == (400, 100004)
    assert set(taken.json()["errors"]) == {"sns_ticket"}
    assert post(server, "unbind", alice).json()["error_code"] == 0
    again = post(server, "unbind", alice)
    assert (again.status_code, again.json()["error_code"]) == (400, 202302)
    bound = post(
        server, "snsreg", type="log", sns_ticket=sns_ticket, username="bob", password=PASSWORD
    )
    assert (bound.status_code, bound.json()["uid"]) == (200, bob["uid"])


def test_a_ticket_of_another_key_is_refused(server):
    answer = post(
        server,
        "snsreg",
        type="log",
        sns_ticket=cli_ticket("x", key="not the server's"),
        username="alice",
        password=PASSWORD,
    )
    assert (answer.status_code, answer.json()["error_code"]) == (400, 100004)
    assert answer.json()["errors"] == {"sns_ticket": "is not signed by this server"}


def test_the_inbox_over_http_lists_reads_and_hides_others(server, cache):
    done = post(server, "register", username="alice", password=PASSWORD, email="a@x.io").json()
    other = post(server, "register", username="bob", password=PASSWORD, email="b@x.io").json()
    alice, bob = login(cache, done["uid"]), login(cache, other["uid"])

    listed = post(server, "message", alice, min_position=other["position"])
    assert listed.status_code == 200 and "X-Stale" not in listed.headers
    [welcome] = listed.json()["messages"]
    assert listed.json()["unread"] == 1

    read = post(server, "message", alice, id=welcome["id"])
    assert read.status_code == 200 and "X-Stale" not in read.headers
    assert read.json()["message"]["read"] is True
    assert read.json()["unread"] == 0
    theirs = post(server, "message", bob, id=welcome["id"])
    assert (theirs.status_code, theirs.json()["error_code"]) == (404, 404)
    assert post(server, "message", alice).json()["messages"][0]["read"] is True  # read-your-writes
