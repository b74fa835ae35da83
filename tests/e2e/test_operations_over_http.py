"""Probes, metrics and read-your-writes against a real `upare serve` with two workers."""

from __future__ import annotations

import http.client
import json

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.credentials import open_session
from upare.cache import SqliteCache


def healthz_count(server: str) -> float:
    text = requests.get(f"{server}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "upare_http_requests_total" and sample.labels["route"] == "/healthz"
    )


def test_metrics_count_the_requests_of_every_worker(server):
    for _ in range(30):  # new connections: the kernel spreads them over both workers
        assert requests.get(f"{server}/healthz", timeout=10).json() == {"status": "ok"}

    assert [healthz_count(server) for _ in range(4)] == [30.0] * 4


def test_readyz_answers_ok_over_http(server):
    answer = requests.get(f"{server}/readyz", timeout=10)
    assert (answer.status_code, answer.json()["status"]) == (200, "ok")


def test_a_caller_sees_its_own_write_without_asking_for_a_position(server, tmp_path):
    open_session(SqliteCache(tmp_path / "cache.sqlite3"), "e2e-session", None)  # the server's
    with requests.Session() as session:
        session.cookies.set("sid", "e2e-session")
        done = session.post(
            f"{server}/api/User/register",
            data={"username": "alice", "password": "correct horse", "email": "alice@x.io"},
            timeout=10,
        ).json()
        answer = session.post(f"{server}/api/User/info", data={"uid": done["uid"]}, timeout=10)

    assert answer.json()["user"]["username"] == "alice"
    assert "X-Stale" not in answer.headers


def test_what_gunicorn_refuses_is_answered_in_the_envelope(server):
    long_line = requests.get(
        f"{server}/api/oauth/authorize", params={"state": "a" * 9000}, timeout=10
    )
    oversized = requests.get(f"{server}/healthz", headers={"X-Big": "b" * 9000}, timeout=10)
    for answer, status in ((long_line, 414), (oversized, 431)):
        assert answer.status_code == status
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["error_code"] == 100004 and answer.json()["message"] == (
            "Validation failed"
        )


def test_a_long_oauth_request_line_is_served(server):
    answer = requests.get(f"{server}/api/oauth/authorize", params={"state": "s" * 6000}, timeout=10)
    assert answer.json()["error_code"] == 201101  # gunicorn's default 4094 would refuse it


def test_a_client_keeps_its_connection_across_requests(server):
    """`upare serve`'s default threaded workers keep a connection alive (sync workers close
    it after each answer, so every request paid a new connection)."""
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    sockets = []
    try:
        for _ in range(3):
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            assert answer.status == 200 and json.loads(answer.read()) == {"status": "ok"}
            assert answer.getheader("Connection", "").lower() != "close"
            sockets.append(connection.sock)  # None once the server closed it
        assert sockets[0] is not None and sockets == [sockets[0]] * 3
    finally:
        connection.close()
