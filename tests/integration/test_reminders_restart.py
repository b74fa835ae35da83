"""A restart during a reminder: a real `upare worker` killed (SIGKILL) while it sends a run of
reminders, then started again, sends each exactly once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from commands.calendar import AddTodo
from commands.users import RegisterUser
from domain.calendar import iso
from tests.integration.fleet import Fleet
from upare.bootstrap import bootstrap

TODOS = 60
SPREAD_SECONDS = 4.0  # the reminders fall due over this long, so that the kill lands amid them


def reminded(container) -> list[str]:
    return [
        e.data["personal"]["text"]
        for e in container.log.read(0, 100_000)
        if e.type == "Message.Sent" and e.data["personal"]["text"].startswith("Reminder:")
    ]


def test_a_worker_killed_amid_its_reminders_sends_each_once_after_its_restart(settings, tmp_path):
    with bootstrap(settings) as container:
        command = RegisterUser(username="alice", password="correct horse", email="a@example.com")
        uid = container.bus.execute(command).fields["uid"]
        fleet = Fleet(
            {"UPARE_DATA_DIR": str(tmp_path), "UPARE_DATABASE_URL": settings.database_url},
            tmp_path,
        )
        fleet.start("worker", "worker", tally=False)
        fleet.wait_for("worker", "sending reminders")
        first = datetime.now(UTC) + timedelta(seconds=2)
        for n in range(TODOS):
            remind_at = first + timedelta(seconds=SPREAD_SECONDS * n / TODOS)
            container.bus.execute(
                AddTodo(uid=uid, title=f"todo {n}", start=iso(first), remind_at=iso(remind_at))
            )
        try:
            deadline = time.monotonic() + 30
            while not reminded(container) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(SPREAD_SECONDS / 3)  # then kill it amid the rest
            fleet.kill("worker")
            at_kill = len(reminded(container))
            fleet.start("worker")
            deadline = time.monotonic() + 30
            while len(reminded(container)) < TODOS and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)  # time enough for a second copy, if one were coming
            texts = reminded(container)
        finally:
            fleet.stop()

    assert 0 < at_kill < TODOS, fleet.tails()  # the kill came amid the reminders
    assert sorted(texts) == sorted(
        f"Reminder: todo {n} starts at {iso(first)}" for n in range(TODOS)
    )
