"""Verification codes end to end: a real `upare serve`, real mail to an SMTP server on
loopback, the code read back from the mail; SQLite, and PostgreSQL with Redis."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import requests

from projections import outbox
from queries import users
from tests import backends
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.e2e.conftest import server_log
from tests.integration.smtp import SmtpServer
from upare import sessions
from upare.bootstrap import build_cache, build_readdb
from upare.cache import Cache
from upare.settings import Settings
from workers.mailer import message_id

PASSWORD = "correct horse battery"
ALICE = {"username": "alice", "password": PASSWORD, "email": "alice@example.com"}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def server_env(settings: Settings, smtp: SmtpServer) -> dict[str, str]:
    return {**backends.server_env(settings), "UPARE_MAIL_URL": smtp.url}


@pytest.fixture
def cache(settings: Settings) -> Cache:
    """Return the server's cache (the same SQLite file, or the same Redis), to open sessions
    in as login opens them."""
    return build_cache(settings)


def code_in(mail) -> str:
    found = re.search(r"verification code is ([0-9]{6})", mail.get_content())
    assert found, mail.get_content()
    return found.group(1)


def post(server: str, path: str, sid: str | None = None, **options) -> requests.Response:
    cookies = {"sid": sid} if sid else None
    return requests.post(f"{server}/api/User/{path}", cookies=cookies, timeout=30, **options)


def until(condition, why: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


def test_a_new_user_verifies_the_email_with_the_code_from_the_mail(
    server, smtp, cache, settings, tmp_path
):
    registered = post(server, "register", data=ALICE)
    assert (registered.status_code, registered.json()["error_code"]) == (200, 0)
    uid = registered.json()["uid"]
    (mail,) = smtp.inbox.mails  # in the inbox before the answer came
    code = code_in(mail)
    sid = sessions.open_session(cache, uid)

    verified = post(server, "validateCommunicationCode", sid, params={"code": code})
    assert (verified.status_code, verified.json()["error_code"]) == (200, 0)
    again = post(server, "validateCommunicationCode", sid, data={"code": code})
    assert (again.status_code, again.json()["error_code"]) == (400, 202006)

    db = build_readdb(settings)
    try:
        until(lambda: (users.own_profile(db, uid) or {}).get("email_verified"), "verified")
        assert outbox.counts(db) == {"sent": 1}
    finally:
        db.close()
    time.sleep(0.3)  # the worker beside the server had its chances to send it again
    assert len(smtp.inbox.mails) == 1
    log = server_log(tmp_path, until="validateCommunicationCode")  # the access log was written
    assert "validateCommunicationCode" in log
    assert code not in log and PASSWORD not in log  # without the code in its query


def test_a_refusing_mail_server_answers_202201_and_sendcode_sends_again(
    server, smtp, cache, settings
):
    smtp.inbox.refuse = True
    registered = post(server, "register", data=ALICE)
    assert (registered.status_code, registered.json()["error_code"]) == (502, 202201)
    uid = registered.json()["uid"]

    info = requests.post(
        f"{server}/api/User/info",
        data={"uid": uid, "min_position": registered.json()["position"]},
        timeout=30,
    )
    assert info.json()["user"]["username"] == "alice"  # the account exists
    db = build_readdb(settings)
    try:
        (queued,) = outbox.listing(db)
        assert queued.status in ("pending", "sending") and queued.refused

        smtp.inbox.refuse = False
        sid = sessions.open_session(cache, uid)
        sent = post(server, "sendcode", sid)  # at once: the failed send left no interval
        assert (sent.status_code, sent.json()["error_code"]) == (200, 0)
        # the worker sends the new code, and register's mail again once its retry is due
        until(lambda: len(smtp.inbox.mails) == 2, "both mails delivered", timeout=20)
        # the deliverer records a send after the server took the mail: a moment later
        sent_row = lambda: getattr(outbox.status(db, queued.key), "status", None) == "sent"  # noqa: E731
        until(sent_row, "the retried mail recorded as sent", timeout=10)
    finally:
        db.close()
    (retried,) = [m for m in smtp.inbox.mails if m["Message-ID"] == message_id(queued.key)]
    (new,) = [m for m in smtp.inbox.mails if m is not retried]
    if code_in(retried) != code_in(new):  # one in a million they are the same
        stale = post(server, "validateCommunicationCode", sid, data={"code": code_in(retried)})
        assert stale.json()["error_code"] == 202006  # the new code replaced it
    verified = post(server, "validateCommunicationCode", sid, data={"code": code_in(new)})
    assert verified.json()["error_code"] == 0
