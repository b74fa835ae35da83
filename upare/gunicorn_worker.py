"""gunicorn's workers (sync, or threaded), answering what gunicorn refuses before the API sees
it (a request line over the limit: 414; headers too large: 431; a malformed request: 400) in
the envelope as `100004 Validation failed`, where gunicorn would send an HTML page (CONTRACT 2)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from domain.errors import ERRORS

LIMIT_REQUEST_LINE = 8190  # gunicorn's largest: query strings of long OAuth requests fit


def write_envelope(sock: Any, status: int, reason: str, detail: str) -> None:
    """Write gunicorn's refusal as the envelope (its detail only for a refused request)."""
    code = 100004 if status < 500 else 100001
    answer: dict[str, Any] = {"error_code": code, "api_uri": "", "message": ERRORS[code][0]}
    if code == 100004:
        answer["errors"] = {"request": detail}
    body = json.dumps(answer).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nX-Request-ID: {uuid.uuid4().hex}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class Envelopes:
    """What both workers share: gunicorn's refusals are envelopes in the worker's process.

    gunicorn writes its refusals through this one call, so the worker points it at
    write_envelope once, after the fork (a threaded worker's threads share the process: a
    swap around each refusal would race)."""

    def init_process(self) -> None:
        util.write_error = write_envelope
        super().init_process()  # type: ignore[misc]


class EnvelopeWorker(Envelopes, SyncWorker):
    """A sync worker whose own refusals are envelopes: one request at a time."""


class EnvelopeThreadWorker(Envelopes, ThreadWorker):
    """A threaded worker (gthread) whose own refusals are envelopes: its threads serve
    requests concurrently, so their commands commit together (commands/group_commit.py).

    It accepts a new connection only while one of its threads is free, or once it has left
    the listener for `ACCEPT_DEFERRAL` seconds. gunicorn's own worker accepts whenever its
    poller wakes, and every worker's wakes on each connection: measured under wrk's 32
    keep-alive connections, one of two workers took 24 to all 32 of them, and a worker's
    GIL then bounded the whole server to one core. A busy worker now leaves new connections
    to an idle one; the deferral bounds what it adds to a new connection's wait when every
    worker is busy.
    """

    ACCEPT_DEFERRAL = 0.05

    busy = 0  # connections submitted to the thread pool and not yet finished
    busy_since = 0.0  # when the worker last left the listener because no thread was free

    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and self.busy >= self.cfg.threads:
            now = time.monotonic()
            if self._accepting:
                self.busy_since, enabled = now, False
            else:
                enabled = now - self.busy_since >= self.ACCEPT_DEFERRAL
        super().set_accept_enabled(enabled)

    def enqueue_req(self, conn: Any) -> None:
        self.busy += 1
        super().enqueue_req(conn)
        self.set_accept_enabled(self.nr_conns < self.worker_connections)

    def finish_request(self, conn: Any, fs: Any) -> None:
        self.busy -= 1
        super().finish_request(conn, fs)
        self.set_accept_enabled(self.nr_conns < self.worker_connections)
