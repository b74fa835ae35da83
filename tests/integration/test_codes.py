"""Verification codes through the API in process: register's mail, sendcode, validation.

On SQLite with its SQLite cache, and on PostgreSQL with Redis (tests/backends.py); mail goes
to a real SMTP server on loopback (aiosmtpd) or into files, SMS into files, and codes are read
back from what arrived. Emails and phones change through modifyBasicInfo.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import falcon.testing
import pytest

from api.app import create_app
from commands.users import load_user
from domain.users import user_id
from projections import outbox
from queries import users
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.integration.smtp import Inbox, SmtpServer
from upare import captchas, sessions
from upare.bootstrap import Container, bootstrap
from upare.settings import Settings
from workers.deliverer import Deliverer, Policy
from workers.store_feed import StoreFeed

FORM = {"content-type": "application/x-www-form-urlencoded"}
PASSWORD = "correct horse battery"
CODE = re.compile(r"verification code is ([0-9]{6})")


@dataclass
class Api:
    """The API of one process, spoken to in process, as one logged-in user at a time."""

    container: Container
    client: falcon.testing.TestClient
    sid: str | None = None

    def post(self, path: str, **params: Any) -> falcon.testing.Result:
        cookies = {"sid": self.sid} if self.sid else None
        return self.client.simulate_post(
            f"/api/User/{path}", body=urlencode(params), headers=FORM, cookies=cookies
        )

    def register(self, username: str = "alice", email: str = "alice@example.com") -> Any:
        return self.post("register", username=username, password=PASSWORD, email=email)

    def log_in(self, uid: int) -> None:
        self.sid = sessions.open_session(self.container.cache, uid)

    def deliver(self) -> int:
        """Run the background deliverer once over the outbox; return how many it sent."""
        container = self.container
        policy = Policy.of(container.settings)
        return Deliverer(container.db, container.mailer, policy).run_once()

    def project(self) -> None:
        feed = StoreFeed(self.container.log, self.container.db, self.container.projections)
        while feed.run_once():
            pass

    def change(self, **fields: str) -> None:
        """Change the user's email or phone through modifyBasicInfo (its captcha in test mode)."""
        answer = self.post("modifyBasicInfo", captcha=captchas.TEST_ANSWER, **fields)
        assert answer.json["error_code"] == 0, answer.json


@pytest.fixture
def serve(settings: Settings) -> Iterator[Callable[..., Api]]:
    """Return a function that starts the API with these settings changed."""
    started: list[Container] = []
    sms = f"file://{settings.data_dir}/sms"

    def start(**changes: Any) -> Api:
        changed = replace(settings, sms_url=sms, captcha_test_mode=True, **changes)
        container = bootstrap(changed)
        started.append(container)
        return Api(container, falcon.testing.TestClient(create_app(container)))

    yield start
    for container in started:
        container.close()


def code_in(sent: Any) -> str:
    """Return the code a mail or SMS carries: a file's bytes, a received mail, or a body."""
    if isinstance(sent, bytes):
        sent = message_from_bytes(sent, policy=policy.default)
    text = sent if isinstance(sent, str) else sent.get_content()
    found = CODE.search(text)
    assert found, text
    return found.group(1)


def files(folder: Path, suffix: str) -> list[bytes]:
    return [path.read_bytes() for path in sorted(folder.glob(f"*{suffix}"))]


def test_register_mails_a_code_that_verifies_the_email(serve):
    with SmtpServer() as smtp:
        api = serve(mail_url=smtp.url)
        answer = api.register()
        assert (answer.status_code, answer.json["error_code"]) == (200, 0)
        uid = answer.json["uid"]
        (mail,) = smtp.inbox.mails  # sent before the answer, not by a background deliverer
        assert mail["To"] == "alice@example.com"
        assert api.deliver() == 0  # the outbox knows it was sent: never a second copy
        assert len(smtp.inbox.mails) == 1

    api.log_in(uid)
    verified = api.post("validateCommunicationCode", code=code_in(mail))
    assert (verified.status_code, verified.json["error_code"]) == (200, 0)
    api.project()
    profile = users.own_profile(api.container.db, uid)
    assert profile is not None and profile["email_verified"] is True
    assert verified.json["position"] == api.container.log.head()


@pytest.mark.parametrize("server", ["refusing", "down"])
def test_a_mailer_that_fails_at_once_answers_202201_and_the_account_stays(serve, server):
    smtp = SmtpServer(Inbox(refuse=True))
    if server == "refusing":
        smtp.start()
    try:
        api = serve(mail_url=smtp.url)
        answer = api.register()
    finally:
        smtp.stop()

    assert (answer.status_code, answer.json["error_code"]) == (502, 202201)
    assert answer.json["message"] == "Failed to send verification code"
    uid = answer.json["uid"]
    assert answer.json["position"] == api.container.log.head()
    assert api.container.app.exists(user_id(uid))
    (queued,) = outbox.listing(api.container.db)
    assert (queued.status, queued.attempts) == ("pending", 1)
    assert queued.message.to == "alice@example.com"
    assert queued.refused == (server == "refusing")

    api.log_in(uid)
    again = api.post("sendcode")  # the failed send left no resend interval behind
    assert (again.status_code, again.json["error_code"]) == (200, 0)


def test_sendcode_mails_a_new_code_through_the_outbox_and_the_old_one_stops_working(serve):
    api = serve(code_resend_seconds=0)
    uid = api.register().json["uid"]
    (first,) = files(api.container.settings.data_dir / "mail", ".eml")
    api.log_in(uid)

    sent = api.post("sendcode", medium="email")
    assert (sent.status_code, sent.json["error_code"], sent.json.get("position")) == (200, 0, None)
    assert api.deliver() == 1
    (new,) = [m for m in files(api.container.settings.data_dir / "mail", ".eml") if m != first]

    if code_in(first) != code_in(new):  # one in a million they are the same
        stale = api.post("validateCommunicationCode", code=code_in(first))
        assert (stale.status_code, stale.json["error_code"]) == (400, 202006)
        assert stale.json["message"] == "Verification code validation failed"
    assert api.post("validateCommunicationCode", code=code_in(new)).json["error_code"] == 0


def test_a_phone_code_goes_by_sms_and_verifies_the_phone(serve):
    api = serve()
    uid = api.register().json["uid"]
    api.log_in(uid)
    api.change(phone="+8613800138000")

    assert api.post("sendcode", medium="phone").json["error_code"] == 0
    assert api.deliver() == 1
    (sms,) = files(api.container.settings.data_dir / "sms", ".sms")
    assert b"+8613800138000" in sms
    assert api.post("validateCommunicationCode", code=code_in(sms), medium="phone").json == {
        "error_code": 0,
        "api_uri": "api/User/validateCommunicationCode",
        "message": "Successful",
        "position": api.container.log.head(),
    }
    api.project()
    profile = users.own_profile(api.container.db, uid)
    assert profile is not None
    assert (profile["phone_verified"], profile["email_verified"]) == (True, False)


def test_a_user_without_a_phone_asking_for_a_phone_code_is_told_which_parameter(serve):
    api = serve()
    api.log_in(api.register().json["uid"])
    answer = api.post("sendcode", medium="phone")
    assert (answer.status_code, answer.json["error_code"]) == (400, 100004)
    assert list(answer.json["errors"]) == ["medium"]


def test_a_second_send_inside_the_interval_answers_202007_with_retry_after(serve):
    api = serve()
    api.log_in(api.register().json["uid"])  # register's mail started the interval

    answer = api.post("sendcode")
    assert (answer.status_code, answer.json["error_code"]) == (429, 202007)
    assert answer.json["message"] == "The sending interval of verification code is 60 seconds"
    assert 30 <= int(answer.headers["Retry-After"]) <= 60
    assert outbox.counts(api.container.db) == {"sent": 1}  # nothing more was queued


def test_the_interval_is_the_configured_one(serve):
    api = serve(code_resend_seconds=30)
    api.log_in(api.register().json["uid"])

    answer = api.post("sendcode")
    assert answer.json["message"] == "The sending interval of verification code is 30 seconds"
    assert 20 <= int(answer.headers["Retry-After"]) <= 30


def test_at_most_ten_codes_a_day_go_to_one_address(serve):
    api = serve(code_resend_seconds=0)
    api.log_in(api.register().json["uid"])  # the first of the day's ten
    for _ in range(9):
        assert api.post("sendcode").json["error_code"] == 0

    answer = api.post("sendcode")
    assert (answer.status_code, answer.json["error_code"]) == (429, 201204)
    assert answer.json["message"] == "API requests out of rate limit"
    assert int(answer.headers["Retry-After"]) > 23 * 3600
    assert sum(outbox.counts(api.container.db).values()) == 10


def test_five_wrong_tries_use_the_code_up(serve):
    api = serve()
    uid = api.register().json["uid"]
    (mail,) = files(api.container.settings.data_dir / "mail", ".eml")
    code = code_in(mail)
    api.log_in(uid)

    head = api.container.log.head()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    answers = [api.post("validateCommunicationCode", code=wrong) for _ in range(5)]
    assert {(a.status_code, a.json["error_code"]) for a in answers} == {(400, 202006)}
    late = api.post("validateCommunicationCode", code=code)
    assert late.json["error_code"] == 202006
    assert api.container.log.head() == head  # nothing was verified


def test_a_code_is_used_once_and_never_validates_another_medium(serve):
    api = serve()
    uid = api.register().json["uid"]
    (mail,) = files(api.container.settings.data_dir / "mail", ".eml")
    api.log_in(uid)
    api.change(phone="+8613800138000")

    phone = api.post("validateCommunicationCode", code=code_in(mail), medium="phone")
    assert phone.json["error_code"] == 202006
    assert api.post("validateCommunicationCode", code=code_in(mail)).json["error_code"] == 0
    again = api.post("validateCommunicationCode", code=code_in(mail))
    assert again.json["error_code"] == 202006


def test_a_code_sent_to_an_address_the_user_has_left_verifies_nothing(serve):
    api = serve()
    uid = api.register().json["uid"]
    (mail,) = files(api.container.settings.data_dir / "mail", ".eml")
    api.log_in(uid)
    api.change(email="alice@elsewhere.example")

    answer = api.post("validateCommunicationCode", code=code_in(mail))
    assert (answer.status_code, answer.json["error_code"]) == (400, 202006)
    assert not load_user(api.container.app, uid).is_verified("email")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("validateCommunicationCode", {}, "code"),
        ("validateCommunicationCode", {"code": "12a456"}, "code"),
        ("validateCommunicationCode", {"code": "1234567"}, "code"),
        ("validateCommunicationCode", {"code": "123456", "medium": "fax"}, "medium"),
        ("sendcode", {"medium": "fax"}, "medium"),
    ],
)
def test_malformed_parameters_are_named(serve, path, params, field):
    api = serve()
    api.log_in(api.register().json["uid"])
    answer = api.post(path, **params)
    assert (answer.status_code, answer.json["error_code"]) == (400, 100004)
    assert list(answer.json["errors"]) == [field]


@pytest.mark.parametrize("path", ["sendcode", "validateCommunicationCode"])
def test_both_need_a_logged_in_user(serve, path):
    answer = serve().post(path, code="123456")
    assert (answer.status_code, answer.json["error_code"]) == (401, 202101)


def test_no_code_or_password_enters_an_event_or_a_log(serve, caplog):
    caplog.set_level(logging.DEBUG)
    with SmtpServer(Inbox(refuse=True)) as smtp:
        api = serve(mail_url=smtp.url, code_resend_seconds=0)
        uid = api.register().json["uid"]  # refused (and logged): queued for a retry
        smtp.inbox.refuse = False
        api.log_in(uid)
        api.change(phone="+8613800138000")
        api.post("sendcode", medium="phone")
        api.post("sendcode", medium="email")
        api.deliver()
        (sms,) = files(api.container.settings.data_dir / "sms", ".sms")
        sent = [code_in(outbox.listing(api.container.db)[0].message.body)]  # register's
        sent += [code_in(mail) for mail in smtp.inbox.mails] + [code_in(sms)]
        api.post("validateCommunicationCode", code=sent[0])  # replaced: refused
        api.post("validateCommunicationCode", code=sent[1])
        api.post("validateCommunicationCode", code=sent[2], medium="phone")

    assert load_user(api.container.app, uid).is_verified("phone")
    events = api.container.app.recorder.select_notifications(1, 1000)
    assert [n.topic for n in events if n.topic.endswith("MediumVerified")]  # read back, all
    stored = b"".join(n.topic.encode() + n.state for n in events)
    # everything logged at any level, but by the test's own mail server (it logs what it got)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert "refused: 550" in logged  # the deliverer's warning about register's mail
    for secret in [*sent, PASSWORD]:
        assert secret.encode() not in stored
        assert secret not in logged
