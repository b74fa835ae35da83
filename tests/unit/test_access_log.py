"""The access log's lines are gunicorn's own for its format (upare/access_log.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from upare.access_log import FORMAT, AccessLogger


class Lines(logging.Handler):
    """Keep the messages logged."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def line(logger_class: type[glogging.Logger], resp: SimpleNamespace, environ: dict) -> str:
    """Return the line a logger of this class writes for a request."""
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", FORMAT)
    logger = logger_class(config)
    lines = Lines()
    logger.access_log.handlers = [lines]
    req = SimpleNamespace(headers=[("HOST", "localhost"), ("USER-AGENT", "x")])
    logger.access(resp, req, environ, timedelta(seconds=1, microseconds=234567))
    (logged,) = lines.messages
    return logged


ENVIRON = {
    "REMOTE_ADDR": "10.0.0.7",
    "REQUEST_METHOD": "GET",
    "RAW_URI": "/api/User/validateCommunicationCode?code=123456",
    "PATH_INFO": "/api/User/validateCommunicationCode",
    "QUERY_STRING": "code=123456",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_USER_AGENT": 'wrk "quoted"',
}


@pytest.mark.parametrize(
    ("resp", "environ"),
    [
        (SimpleNamespace(status="200 OK", sent=61, headers=[("X-Request-ID", "ab12")]), ENVIRON),
        (SimpleNamespace(status="404 Not Found", sent=0, headers=[]), ENVIRON),
        (
            SimpleNamespace(status=500, sent=None, headers=[("x-request-id", "z")]),
            {"REQUEST_METHOD": "POST", "RAW_URI": "/", "SERVER_PROTOCOL": "HTTP/1.0"},
        ),
    ],
)
def test_an_access_line_is_gunicorns_own_for_the_format(resp, environ):
    logged = line(AccessLogger, resp, environ)
    assert logged == line(glogging.Logger, resp, environ)
    assert "123456" not in logged  # the path without its query (CONTRACT 11)


def test_an_access_line_names_the_request_id_the_status_and_the_time():
    resp = SimpleNamespace(status="200 OK", sent=61, headers=[("X-Request-ID", "ab12")])
    assert line(AccessLogger, resp, ENVIRON) == (
        '10.0.0.7 [ab12] "GET /api/User/validateCommunicationCode HTTP/1.1" 200 61 1234ms'
        ' "wrk \\"quoted\\""'
    )
