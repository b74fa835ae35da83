"""A backend that cannot answer is an outage: 100003 with HTTP 503 and Retry-After, never 500."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool
import pytest
import redis
from eventsourcing import persistence


@pytest.mark.parametrize(
    "failure",
    [
        persistence.OperationalError("server closed the connection"),
        persistence.InterfaceError("connection already closed"),
        psycopg.OperationalError("connection refused"),
        psycopg.InterfaceError("the connection is closed"),
        psycopg_pool.PoolTimeout("couldn't get a connection after 30 sec"),
        sqlite3.OperationalError("database is locked"),
        redis.ConnectionError("Connection refused"),
        redis.TimeoutError("Timeout reading from socket"),
    ],
    ids=lambda failure: f"{type(failure).__module__}.{type(failure).__name__}",
)
def test_a_failing_backend_answers_100003_with_503_and_retry_after(client, monkeypatch, failure):
    def fail(*_args: object) -> None:
        raise failure

    monkeypatch.setattr("queries.users.public_profile", fail)
    answer = client.simulate_post("/api/User/info", params={"uid": 10001})
    assert answer.status_code == 503
    assert answer.json == {
        "error_code": 100003,
        "api_uri": "api/User/info",
        "message": "Database error",
    }
    assert int(answer.headers["Retry-After"]) > 0


def test_an_unhandled_version_conflict_is_an_internal_error_not_an_outage(client, monkeypatch):
    def conflict(*_args: object) -> None:
        raise persistence.IntegrityError("duplicate key")

    monkeypatch.setattr("queries.users.public_profile", conflict)
    answer = client.simulate_post("/api/User/info", params={"uid": 10001})
    assert (answer.status_code, answer.json["error_code"]) == (500, 100001)


@pytest.mark.parametrize(
    "bug",
    [
        sqlite3.OperationalError("no such table: users_profiles"),
        persistence.ProgrammingError("syntax error at or near SELEC"),
        persistence.IntegrityError("duplicate key value"),
        ValueError("a handler's own mistake"),
    ],
    ids=lambda bug: type(bug).__name__,
)
def test_a_bug_is_not_mistaken_for_an_outage(bug):
    from upare.outages import is_outage

    assert not is_outage(bug)


def test_an_outage_wrapped_by_the_event_store_is_still_an_outage():
    from upare.outages import is_outage

    try:
        try:
            raise psycopg.OperationalError("connection refused")
        except psycopg.OperationalError as ex:
            raise persistence.OperationalError(str(ex)) from ex
    except persistence.OperationalError as wrapped:
        assert is_outage(wrapped)
