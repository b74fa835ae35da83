"""Outages as an operator meets them: a real server under a stream of commands while
PostgreSQL, Redis or Kafka is stopped and started again (scripts/services.sh), and a worker
killed. Nothing acknowledged is lost, no answer is a 500 or an HTML page, and everything
recovers unattended."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.credentials import open_session
from upare.cache import RedisCache
from upare.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "services.sh"


def services(command: str) -> None:
    subprocess.run(["bash", str(SERVICES), command], check=True, capture_output=True, timeout=180)


@contextmanager
def stopped(service: str) -> Iterator[None]:
    """Stop a shared test service for the block; always start it again."""
    services(f"{service}-stop")
    try:
        yield
    finally:
        services(f"{service}-start")


@dataclass
class Answer:
    status: int
    code: int | None
    headers: Mapping[str, str]  # case-insensitive, as requests gives them
    body: dict
    kind: str


class Stream:
    """Register users one after another in a thread, keeping every answer."""

    def __init__(self, server: str, cookies: dict[str, str] | None = None) -> None:
        self.server = server
        self.cookies = cookies or {}
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.prefix = uuid.uuid4().hex[:6]

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            name = f"u{self.prefix}{n}"
            data = {"username": name, "password": "correct horse", "email": f"{name}@x.io"}
            try:
                answer = requests.post(
                    f"{self.server}/api/User/register", data=data, cookies=self.cookies, timeout=30
                )
            except requests.ConnectionError as ex:  # a connection cut is a defect too
                self.answers.append(Answer(0, None, {}, {"error": repr(ex)}, "none"))
                continue
            kind = answer.headers.get("Content-Type", "")
            body = answer.json() if kind.startswith("application/json") else {}
            self.answers.append(
                Answer(answer.status_code, body.get("error_code"), answer.headers, body, kind)
            )
            time.sleep(0.02)

    def __enter__(self) -> Stream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)

    def acknowledged(self) -> list[Answer]:
        return [answer for answer in self.answers if answer.code == 0]


def assert_only_clean_refusals(answers: list[Answer], codes: set[int]) -> None:
    for answer in answers:
        assert answer.kind.startswith("application/json"), answer
        assert answer.status != 500, answer
        if answer.code != 0:
            assert answer.code in codes, answer
            assert answer.status == 503 and "Retry-After" in answer.headers, answer


def wait_visible(server: str, answers: list[Answer], timeout: float = 60) -> None:
    """Wait until every acknowledged registration is answered by `info`."""
    deadline = time.monotonic() + timeout
    for answer in answers:
        uid = answer.body["uid"]
        while True:
            info = requests.post(f"{server}/api/User/info", data={"uid": uid}, timeout=10)
            if info.json()["error_code"] == 0:
                break
            assert time.monotonic() < deadline, f"uid {uid} was never projected: {info.json()}"
            time.sleep(0.2)


def ready(server: str) -> dict:
    return requests.get(f"{server}/readyz", timeout=10).json()


def becomes_ready(server: str, timeout: float = 30) -> dict:
    """Return `/readyz` once it answers ok (each gunicorn worker's pools find their way back
    to the restarted service on their own), or its last answer after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    answer = ready(server)
    while answer["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.5)
        answer = ready(server)
    return answer


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The outage tests run on PostgreSQL (the production store)."""
    url = request.getfixturevalue("postgres_url")
    return Settings(data_dir=tmp_path, database_url=url, mail_url=f"file://{tmp_path}/mail")


@pytest.mark.outage
def test_a_postgres_restart_under_load_answers_100003_and_loses_no_acknowledged_write(server):
    with Stream(server) as stream:
        time.sleep(1.0)
        with stopped("postgres"):  # longer than the event store's own retries (about 10 s)
            time.sleep(1.0)
            down = ready(server)
            time.sleep(20.0)
        time.sleep(3.0)
    assert "store" in down["failed"] and "read_db" in down["failed"]
    assert_only_clean_refusals(stream.answers, {100003})
    assert any(answer.code == 100003 for answer in stream.answers), "the outage was not seen"
    after = [a for a in stream.answers[-10:] if a.code == 0]
    assert after, "no registration went through after the restart"
    wait_visible(server, stream.acknowledged())
    answer = becomes_ready(server)
    assert answer["status"] == "ok", answer


@pytest.fixture
def redis_prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"  # the Redis server is shared, and uids start at 10001


@pytest.fixture
def server_env(request: pytest.FixtureRequest, redis_prefix: str) -> dict[str, str]:
    return {
        "UPARE_REDIS_URL": request.getfixturevalue("redis_url"),
        "UPARE_REDIS_PREFIX": redis_prefix,
    }


@pytest.mark.outage
def test_with_redis_down_a_stored_write_is_answered_as_stored_and_sessions_fail_closed(
    server, redis_url, redis_prefix
):
    sid = f"sid-{uuid.uuid4().hex}"
    open_session(RedisCache(redis_url, redis_prefix), sid, 10001)
    cookies = {"sid": sid}
    for _ in range(20):  # new connections: both workers read the session, and keep it
        kept = requests.post(f"{server}/api/User/info", cookies=cookies, timeout=30)
        assert kept.json()["error_code"] == 202001  # a session of a user not stored
    with stopped("redis"):
        answer = requests.post(
            f"{server}/api/User/register",
            data={"username": "carol", "password": "correct horse", "email": "carol@x.io"},
            cookies=cookies,
            timeout=30,
        )
        own = requests.post(f"{server}/api/User/info", cookies=cookies, timeout=30)
        down = ready(server)
    # stored and answered with its uid; its code could not be kept, so its mail was not sent
    assert (answer.status_code, answer.json()["error_code"]) == (502, 202201)
    assert (own.status_code, own.json()["error_code"]) == (503, 100003)
    assert "Retry-After" in own.headers
    assert down["failed"] == ["cache"]
    wait_visible(server, [Answer(200, 0, {}, answer.json(), "application/json")])
    # Redis lost the session: no saving
    open_session(RedisCache(redis_url, redis_prefix), sid, answer.json()["uid"])
    mine = requests.post(f"{server}/api/User/info", cookies=cookies, timeout=30)
    assert mine.json()["user"]["username"] == "carol"


def worker_pids(server_pid: int) -> list[int]:
    """Return the pids of the `upare worker` children of a `upare serve` process."""
    found = []
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if b"worker" in cmdline:
                found.append(int(child))
    return found


def test_a_killed_worker_is_started_again_and_goes_on_where_it_stopped(server, server_process):
    (worker,) = worker_pids(server_process.pid)
    os.kill(worker, signal.SIGKILL)
    with Stream(server) as stream:
        time.sleep(2.0)
    deadline = time.monotonic() + 20
    while not worker_pids(server_process.pid):
        assert time.monotonic() < deadline, "the worker was not started again"
        time.sleep(0.2)
    assert worker_pids(server_process.pid) != [worker]
    wait_visible(server, stream.acknowledged())
