"""How `upare serve`'s gunicorn settings (`upare.cli.gunicorn_argv`) share connections out."""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

from tests.e2e.conftest import free_port
from upare.cli import gunicorn_argv

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def served_by(port: int, clients: int) -> list[str]:
    """Open `clients` connections at once, send a request on each, and return the pid of the
    worker that answered each one."""
    connections = [HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(clients)]
    try:
        for connection in connections:
            connection.request("GET", "/")
        return [connection.getresponse().read().decode() for connection in connections]
    finally:
        for connection in connections:
            connection.close()


def test_keep_alive_connections_are_shared_between_the_workers():
    """A threaded worker whose threads are all busy leaves new connections to an idle one:
    gunicorn's own gthread let one of two workers take nearly all of a burst of connections,
    and its GIL then bounded the whole server to one core."""
    port = free_port()
    argv = gunicorn_argv("127.0.0.1", port, 2, 2, "tests.e2e.pid_app:application")
    process = subprocess.Popen(
        [GUNICORN, *argv[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                served_by(port, 1)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.1)
        time.sleep(1)  # both workers up
        shares = collections.Counter(served_by(port, 16))
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert len(shares) == 2 and min(shares.values()) >= 5, shares
