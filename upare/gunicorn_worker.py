"""gunicorn's sync worker, answering what gunicorn refuses before the API sees it (a request
line over the limit: 414; headers too large: 431; a malformed request: 400) in the envelope
as `100004 Validation failed`, where gunicorn would send an HTML page (CONTRACT 2)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from gunicorn import util
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


class EnvelopeWorker(SyncWorker):
    """A sync worker whose own refusals are envelopes."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        html = util.write_error
        util.write_error = write_envelope  # gunicorn writes its refusals through this one call
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            util.write_error = html
