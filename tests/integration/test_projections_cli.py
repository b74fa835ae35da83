"""`upare projections status|rebuild` and the pipeline status behind them, on each backend."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from domain.users import User
from projections import catalog, dead_letters
from projections.events import EventRecord
from projections.users import UsersProjection
from tests.integration.feeds import project
from upare.cli import app
from upare.status import pipeline_status


def save_users(store, *uids: int) -> None:
    store.save(
        *[
            User.register(uid=uid, username=f"u{uid}", email=f"u{uid}@x.io", password_hash="h")
            for uid in uids
        ]
    )


def park_one(container) -> None:
    event = EventRecord(
        7, "some-aggregate", 1, "domain.users:User.Registered", datetime.now(UTC), {"uid": 1}
    )
    with container.db.transaction() as tx:
        projection = UsersProjection(catalog.lock_live(tx, "users"))
        dead_letters.park(tx, projection, event, status=dead_letters.PARKED, error="boom")


def test_status_shows_each_projections_generation_watermark_lag_and_dead_letters(container, cli):
    save_users(container.app, 10001, 10002)
    project(container)
    save_users(container.app, 10003, 10004, 10005)  # stored, not projected yet
    park_one(container)

    lines = cli("projections", "status").splitlines()

    assert "event store at position 5" in lines[0]
    row = next(line for line in lines if "users" in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[:4] == ["users", "1", "2", "3"]  # name, generation, watermark, lag in events
    assert float(cells[4]) >= 0.0  # lag in seconds: the age of the oldest unapplied event
    assert cells[5] == "1"  # one open dead letter
    assert lines[-2] == "outbox: 0 to send, 0 failed"
    assert lines[-1] == "relay position: -"


def test_the_lag_in_seconds_is_the_age_of_the_oldest_unapplied_event(container):
    save_users(container.app, 10001)
    status = pipeline_status(container.log, container.db, container.projections, relay=False)
    users = status.projections[0]
    assert (users.watermark, users.lag_events) == (0, 1)
    assert 0.0 <= users.lag_seconds < 60.0

    project(container)
    status = pipeline_status(container.log, container.db, container.projections, relay=False)
    assert (status.projections[0].lag_events, status.projections[0].lag_seconds) == (0, 0.0)


def test_the_relay_position_shows_only_on_kafka(container):
    with container.db.transaction() as tx:
        tx.execute(
            "INSERT INTO relay_position (feed, topic, position, end_offset) VALUES (?, ?, ?, ?)",
            (0, "upare.events", 42, 40),
        )
    on_kafka = pipeline_status(container.log, container.db, container.projections, relay=True)
    embedded = pipeline_status(container.log, container.db, container.projections, relay=False)
    assert (on_kafka.relay_position, embedded.relay_position) == (42, None)


def test_the_rebuild_command_switches_to_the_next_generation_and_says_so(container, cli):
    save_users(container.app, 10001, 10002)
    project(container)

    output = cli("projections", "rebuild", "users")

    assert "users: generation 2 is live at position 2 (2 events" in output
    assert container.db.fetchall("SELECT uid FROM users_profiles ORDER BY uid") == [
        (10001,),
        (10002,),
    ]


def test_the_rebuild_command_refuses_an_unknown_projection(container):
    env = {"UPARE_DATA_DIR": str(container.settings.data_dir)}
    env["UPARE_DATABASE_URL"] = container.settings.database_url
    result = CliRunner().invoke(app, ["projections", "rebuild", "nope"], env=env)
    assert result.exit_code == 2
    assert "no projection 'nope' (known: " in result.output
    assert all(cls.name in result.output for cls in container.projections)
