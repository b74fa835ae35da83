"""Read-your-writes (CONTRACT 10) through the API, on each backend, with the store feed."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import falcon.testing
import pytest

from api.app import create_app
from api.freshness import ReadYourWrites
from projections import catalog
from projections.wakeup import Listen
from tests.credentials import issue_token, open_session
from upare.bootstrap import bootstrap
from upare.settings import Settings
from workers.store_feed import StoreFeed

CALLERS = {
    "sid cookie": {"cookies": {"sid": "s3cret"}},
    "bearer token": {"headers": {"Authorization": "Bearer s3cret"}},
    "access_token": {"params": {"access_token": "s3cret"}},
}


@pytest.fixture
def client(container) -> falcon.testing.TestClient:
    open_session(container.cache, "s3cret", None)  # an anonymous session, as captchas make
    open_session(container.cache, "someone else", None)
    issue_token(container.cache, "s3cret", 10001)
    return falcon.testing.TestClient(create_app(container))


@pytest.fixture
def feed(container):
    """Return a function that starts the store feed in a thread, after a delay."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(after: float = 0.0) -> None:
        def run() -> None:
            if not stop.wait(after):
                StoreFeed(container.log, container.db, container.projections).run(stop)

        threads.append(threading.Thread(target=run))
        threads[-1].start()

    yield start
    stop.set()
    for thread in threads:
        thread.join()


def register(client, username: str, caller: dict | None = None) -> falcon.testing.Result:
    caller = caller or {}
    params = {"username": username, "password": "correct horse", "email": f"{username}@x.io"}
    return client.simulate_post(
        "/api/user/register",
        params={**params, **caller.get("params", {})},
        cookies=caller.get("cookies"),
        headers=caller.get("headers"),
    )


def info(client, uid: int, caller: dict | None = None, **params) -> falcon.testing.Result:
    caller = caller or {}
    return client.simulate_post(
        "/api/user/info",
        params={"uid": uid, **params, **caller.get("params", {})},
        cookies=caller.get("cookies"),
        headers=caller.get("headers"),
    )


@pytest.mark.parametrize("caller", CALLERS.values(), ids=CALLERS.keys())
def test_a_query_waits_until_it_sees_the_last_write_of_the_same_caller(client, feed, caller):
    uid = register(client, "alice", caller).json["uid"]
    feed(after=0.3)
    started = time.monotonic()

    answer = info(client, uid, caller)

    assert answer.json["user"]["username"] == "alice"
    assert "X-Stale" not in answer.headers
    assert time.monotonic() - started >= 0.25  # it waited for the feed


def test_another_callers_query_does_not_wait_for_that_write(client):
    uid = register(client, "alice", CALLERS["sid cookie"]).json["uid"]
    started = time.monotonic()

    answer = info(client, uid, {"cookies": {"sid": "someone else"}})

    assert answer.json["error_code"] == 202001  # not projected: no feed runs
    assert "X-Stale" not in answer.headers
    assert time.monotonic() - started < 1.0


def test_a_query_that_cannot_catch_up_in_time_answers_stale(client, monkeypatch):
    monkeypatch.setattr(ReadYourWrites, "timeout", 0.3)
    uid = register(client, "alice", CALLERS["sid cookie"]).json["uid"]

    answer = info(client, uid, CALLERS["sid cookie"])

    assert answer.status_code == 404 and answer.json["error_code"] == 202001
    assert answer.headers["X-Stale"] == "true"


def test_min_position_makes_any_query_wait(client, feed, monkeypatch):
    monkeypatch.setattr(ReadYourWrites, "timeout", 0.3)
    done = register(client, "alice").json
    assert info(client, done["uid"], min_position=done["position"]).headers["X-Stale"] == "true"
    feed(after=0.1)

    answer = info(client, done["uid"], min_position=done["position"])

    assert answer.json["user"]["uid"] == done["uid"]
    assert "X-Stale" not in answer.headers


def test_only_a_hash_of_the_callers_secret_is_kept_with_its_last_position(client, container):
    first = register(client, "alice", CALLERS["sid cookie"]).json["position"]
    refused = register(client, "alice", CALLERS["sid cookie"])  # a failed command: not a write
    assert refused.json["error_code"] == 202002

    key = "ryw:" + hashlib.sha256(b"s3cret").hexdigest()
    assert container.cache.get(key) == str(first).encode()
    assert container.cache.get("ryw:s3cret") is None


@pytest.mark.postgres
def test_a_feeds_notify_wakes_the_waiting_queries_at_once(postgres_url, tmp_path: Path):
    container = bootstrap(Settings(data_dir=tmp_path, database_url=postgres_url))
    wakeup = Listen(container.db.url)
    try:
        first = wakeup.mark()
        deadline = time.monotonic() + 5
        while wakeup.mark() == first and time.monotonic() < deadline:  # until it listens
            wakeup.wait(first, 0.05)
        quiet = wakeup.mark()
        wakeup.wait(quiet, 0.2)
        assert wakeup.mark() == quiet  # nothing happened, nothing woke

        with container.db.transaction() as tx:
            catalog.notify_progress(tx)
        sent = time.monotonic()
        while wakeup.mark() == quiet and time.monotonic() - sent < 1:
            wakeup.wait(quiet, 1.0)

        assert wakeup.mark() != quiet
    finally:
        container.close()


@pytest.mark.postgres
def test_a_kept_answer_goes_when_a_feed_moves_the_read_models(postgres_url, tmp_path: Path):
    """Anonymous reads are answered from the process's memory (projections/read_cache.py)
    until a feed's NOTIFY: not only after the answers' maximum age."""
    container = bootstrap(Settings(data_dir=tmp_path, database_url=postgres_url))
    client = falcon.testing.TestClient(create_app(container))
    container.reads.max_age = 60.0
    stop = threading.Event()
    feed = threading.Thread(
        target=StoreFeed(container.log, container.db, container.projections).run, args=(stop,)
    )
    try:
        container.wakeup.mark()  # start listening, as a first read would
        deadline = time.monotonic() + 5
        while not container.wakeup.listening and time.monotonic() < deadline:
            time.sleep(0.01)
        uid = register(client, "alice").json["uid"]
        statements: list[str] = []
        read = container.db.fetchone
        container.db.fetchone = lambda sql, params=(): statements.append(sql) or read(sql, params)
        for _ in range(3):
            assert info(client, uid).json["error_code"] == 202001  # not projected yet
        assert len(statements) == 1  # the first answer was kept

        feed.start()
        projected = time.monotonic()
        while info(client, uid).json.get("error_code") and time.monotonic() - projected < 5:
            time.sleep(0.01)

        assert info(client, uid).json["user"]["username"] == "alice"
        assert time.monotonic() - projected < 5
    finally:
        stop.set()
        if feed.is_alive():
            feed.join()
        container.close()
