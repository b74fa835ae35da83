"""Upcasting on SQLite and PostgreSQL: rows the v1 schema stored (plain personal fields, claims
holding their value; tests/fixtures/v1_user_events.json) read in the current shape everywhere:
the loaded aggregate, the store's log, the relay's Kafka envelope and the users read model."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from commands.users import load_user
from domain.users import user_id
from projections.users import UsersProjection
from workers import kafka
from workers.store_feed import StoreFeed

ROWS = Path(__file__).parent.parent / "fixtures" / "v1_user_events.json"
UID = 10001
PLAIN = ("email", "phone", "nickname", "details", "password_hash", "openid", "value")


def store_v1_rows(container) -> None:
    """Insert the v1 rows into the store as the old schema wrote them, through its recorder."""
    rows = json.loads(ROWS.read_text())
    container.app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=UUID(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"].encode(),
            )
            for row in rows
        ]
    )


def test_a_user_stored_by_the_v1_schema_loads_in_the_current_shape(container):
    store_v1_rows(container)

    user = load_user(container.app, UID)

    assert (user.username, user.email, user.nickname) == (
        "ada",
        "ada.lovelace@example.com",
        "Ada Lovelace",
    )
    assert (user.phone, user.verified) == ("+8613800138000", {"phone": "+8613800138000"})
    assert user.details["idcard"] == "11010519491231002X"
    assert user.password_hash.endswith("c2FsdDI$aGFzaDI")  # the changed one
    assert (user.sns, user.avatar) == ({}, {"256": "a.png", "64": "b.png"})
    assert user.is_verified("phone") and not user.is_verified("email")


def test_a_v1_user_takes_new_events_beside_its_old_rows(container):
    store_v1_rows(container)
    user = load_user(container.app, UID)

    user.change_email("ada@analytical.example")
    container.app.record(user)

    assert load_user(container.app, UID).email == "ada@analytical.example"
    newest = container.log.notifications(0, 100)[-1]
    assert b"ada@analytical.example" not in newest.state  # new rows are sealed


def test_the_log_and_the_kafka_envelope_read_v1_rows_in_the_current_shape(container):
    store_v1_rows(container)
    notifications = container.log.notifications(0, 100)

    logged = container.log.read(0, 100)
    relayed = []
    for notification in notifications:
        key, value = kafka.encode(notification, container.log.plain_state(notification))
        assert key == str(notification.originator_id).encode()
        assert json.loads(value)["dataversion"] == 1  # the envelope says what it carries
        relayed.append(kafka.decode(value, container.log))

    assert relayed == logged
    users = [event for event in logged if event.originator_id == str(user_id(UID))]
    assert len(users) == 10
    for event in users:
        assert not set(event.data) & set(PLAIN)  # no plain field left at the top
    registered, details = users[0].data, users[5].data
    assert registered["personal"]["email"] == "ada@example.com"
    assert registered["username"] == "ada"
    assert details["personal"]["details"]["address"] == "12 St James's Square, London"
    verified = users[4].data
    assert (verified["medium"], verified["personal"]) == ("phone", {"value": "+8613800138000"})
    claimed = [event for event in logged if event.type == "Index.Claimed"]
    assert [set(event.data) for event in claimed] == [{"kind", "owner"}]  # the value is gone


def test_the_users_read_model_projects_v1_rows_in_the_current_shape(container):
    store_v1_rows(container)

    feed = StoreFeed(container.log, container.db, container.projections)
    while feed.run_once():
        pass

    row = container.db.fetchone(
        f"SELECT email, nickname, phone, phone_verified, details FROM"
        f" {UsersProjection.view('profiles')} WHERE uid = ?",
        (UID,),
    )
    assert row is not None
    assert row[:4] == ("ada.lovelace@example.com", "Ada Lovelace", "+8613800138000", 1)
    assert json.loads(row[4])["realname"] == "Ada Lovelace"
