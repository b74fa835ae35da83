"""gunicorn's workers (sync, or threaded), answering what gunicorn refuses before the API sees
it (a request line over the limit: 414; headers too large: 431; a malformed request: 400) in
the envelope as `100004 Validation failed`, where gunicorn would send an HTML page (CONTRACT 2)."""

from __future__ import annotations

import json
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
    requests concurrently, so their commands commit together (commands/group_commit.py)."""
