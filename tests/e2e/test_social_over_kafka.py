"""The social flow on production's stack: `upare serve` and a `upare worker` on PostgreSQL, Redis
and Kafka (the notifier in its own consumer group), with a real SMTP server. Friends, their
notices (inbox and mail, once), recommendations, a reminder, and 204104 once the mail server
refuses."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import UPARE
from tests.e2e.social import post
from tests.integration.smtp import Inbox, SmtpServer
from upare.settings import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]
NOTICE = "You have a new friend on Upare"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(Inbox()) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str, redis_url: str, smtp: SmtpServer) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=postgres_url,
        mail_url=smtp.url,
        redis_url=redis_url,
        redis_prefix=f"test-{uuid.uuid4().hex}:",
    )


@pytest.fixture
def server_env(settings: Settings, kafka_bootstrap: str) -> dict[str, str]:
    token = uuid.uuid4().hex[:10]
    return {
        "UPARE_REDIS_URL": settings.redis_url,
        "UPARE_REDIS_PREFIX": settings.redis_prefix,
        "UPARE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "UPARE_KAFKA_TOPIC": f"upare.test.{token}",
        "UPARE_KAFKA_GROUP": f"upare-test-{token}",
        "UPARE_NOTIFY_ATTEMPTS": "2",
        "UPARE_NOTIFY_BACKOFF": "0.2",
    }


@pytest.fixture
def worker(server, settings, server_env, tmp_path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `upare worker` beside the server: relay, projector, notifier, deliverer, reminders."""
    env = {
        **os.environ,
        "UPARE_DATA_DIR": str(tmp_path),
        "UPARE_DATABASE_URL": settings.database_url,
        "UPARE_MAIL_URL": settings.mail_url,
        **server_env,
    }
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen([UPARE, "worker"], env=env, stdout=log, stderr=log)
        yield process
        process.terminate()
        process.wait(timeout=30)


def mails_to(smtp: SmtpServer, address: str, subject: str | None = None) -> list[str]:
    return [
        mail.get_content()
        for mail in smtp.inbox.mails
        if mail["To"] == address and (subject is None or mail["Subject"] == subject)
    ]


def eventually(check, seconds: float = 15):
    """Return check()'s first truthy answer within `seconds`; fail with its last one."""
    deadline = time.monotonic() + seconds
    while not (answer := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert answer, answer
    return answer


def texts(server: str, sid: str) -> list[str]:
    return [message["text"] for message in post(server, "message", sid).json()["messages"]]


def test_friends_notices_reminders_and_204104_on_kafka(server, worker, users, smtp):
    (ann, ann_sid), (bob, bob_sid), (cat, _) = users("ann", "bob", "cat")
    [code_mail] = eventually(lambda: mails_to(smtp, "bob@example.com"))
    code = re.search(r"\b\d{6}\b", code_mail).group()
    verified = post(server, "validateCommunicationCode", bob_sid, code=code, medium="email")
    assert verified.json()["error_code"] == 0, verified.text

    made = post(server, "friendmake", ann_sid, fid=bob, wait=10)
    assert (made.status_code, made.json()["notified"]) == (200, True), made.text
    assert len(mails_to(smtp, "bob@example.com", NOTICE)) == 1
    assert "ann is now your friend" in eventually(lambda: texts(server, bob_sid))
    assert [f["uid"] for f in post(server, "friends", ann_sid).json()["friends"]] == [bob]
    wanted = {"min_position": made.json()["position"]}  # bob did not write it: he waits for it
    assert [f["uid"] for f in post(server, "friends", bob_sid, **wanted).json()["friends"]] == [ann]

    also = post(server, "friendmake", bob_sid, fid=cat).json()
    wanted = {"min_position": also["position"]}
    recommended = post(server, "friendsrecommend", ann_sid, **wanted).json()["users"]
    assert [(user["uid"], user["mutual"]) for user in recommended] == [(cat, 1)]

    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")
    todo = requests.post(
        f"{server}/api/Calendar/add",
        data={"title": "Dentist", "start": "2026-12-24T09:30:00Z", "remind_at": soon},
        cookies={"sid": ann_sid},
        timeout=20,
    ).json()
    assert todo["error_code"] == 0, todo
    reminder = "Reminder: Dentist starts at 2026-12-24T09:30:00+00:00"
    eventually(lambda: reminder in texts(server, ann_sid))

    smtp.inbox.refuse = True
    assert post(server, "frienddel", ann_sid, fid=bob).json()["error_code"] == 0
    failed = post(server, "friendmake", ann_sid, fid=bob, wait=10)
    assert (failed.status_code, failed.json()["error_code"]) == (502, 204104), failed.text
    [friend] = post(server, "friends", ann_sid).json()["friends"]
    assert (friend["uid"], friend["notified"]) == (bob, False)
    assert texts(server, ann_sid)[0] == "Failed to notify your friend"
    assert texts(server, ann_sid).count(reminder) == 1
    assert len(mails_to(smtp, "bob@example.com", NOTICE)) == 1
