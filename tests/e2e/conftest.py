"""A real Upare server process, spoken to over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.credentials import open_session
from upare.bootstrap import build_cache

UPARE = str(Path(sys.executable).with_name("upare"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_log(tmp_path, until: str, seconds: float = 10) -> str:
    """Return the server's log once it has `until` (gunicorn logs a request after answering)."""
    deadline = time.monotonic() + seconds
    log = (tmp_path / "server.log").read_text()
    while until not in log and time.monotonic() < deadline:
        time.sleep(0.05)
        log = (tmp_path / "server.log").read_text()
    return log


@pytest.fixture
def server_env() -> dict[str, str]:
    """Return extra UPARE_* settings for the server (a test module may override this)."""
    return {}


@pytest.fixture
def server_process(
    settings, server_env: dict[str, str], tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `upare serve` on the backend under test; its URL is `process.url`."""
    port = free_port()
    env = {
        **os.environ,
        "UPARE_DATA_DIR": str(tmp_path),
        "UPARE_DATABASE_URL": settings.database_url,
        "UPARE_MAIL_URL": settings.mail_url,
        **server_env,
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [UPARE, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{base}/openapi.json", timeout=1)
            break
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or still busy
            if process.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail("server did not start:\n" + (tmp_path / "server.log").read_text())
            time.sleep(0.1)
    process.url = base  # type: ignore[attr-defined]
    yield process
    # the server, its workers and its helper are killed at once: a graceful stop takes seconds
    # a test, and test_a_terminated_server_stops_its_workers_and_its_helper checks it once
    with contextlib.suppress(ProcessLookupError):  # a test may have stopped it already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)
    log.close()


@pytest.fixture
def server(server_process: subprocess.Popen[bytes]) -> str:
    """Return the base URL of a `upare serve` on the backend under test."""
    return server_process.url  # type: ignore[attr-defined]


@pytest.fixture
def users(server, settings):
    """Register users over HTTP; return (uid, sid) for each, logged in through the cache.

    When their code mails fail, register answers 202201 with the uid: the accounts exist."""
    cache = build_cache(settings)

    def make(*names: str) -> list[tuple[int, str]]:
        made = []
        for name in names:
            form = {"username": name, "password": "correct horse", "email": f"{name}@example.com"}
            uid = requests.post(f"{server}/api/User/register", data=form, timeout=30).json()["uid"]
            sid = uuid.uuid4().hex
            open_session(cache, sid, uid)
            made.append((uid, sid))
        return made

    return make
