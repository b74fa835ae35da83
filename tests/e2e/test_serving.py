"""How `upare serve`'s gunicorn settings (`upare.cli.gunicorn_argv`) share connections out, and
how the server stops."""

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


def process_group(pgid: int) -> set[int]:
    """Return the pids of the live processes in a process group (from /proc)."""
    members = set()
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # not a process, or gone meanwhile
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.add(int(entry.name))
    return members


def test_a_terminated_server_stops_its_workers_and_its_helper(server_process, tmp_path):
    """SIGTERM is a clean stop: the gunicorn workers and the `upare worker` beside them end, and
    `upare serve` exits 0 after them. The server opened no control socket (gunicorn's is one
    path for all the servers of a user)."""
    deadline = time.monotonic() + 10  # the second worker may still be forking
    while len(started := process_group(server_process.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(started) >= 4, started  # the master, two workers and the helper

    server_process.terminate()

    assert server_process.wait(timeout=30) == 0
    deadline = time.monotonic() + 5
    while process_group(server_process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_group(server_process.pid)
    assert "Booting worker" in (log := (tmp_path / "server.log").read_text())
    assert "Control socket" not in log
