"""The calendar endpoints in process, on SQLite and on PostgreSQL + Redis, with the store feed
running as `upare worker` runs it: every code, read-your-writes, ranges, `done`, times."""

from __future__ import annotations

import uuid

import falcon.testing
import pytest
from eventsourcing.persistence import IntegrityError

from api.app import create_app
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.credentials import issue_token, open_session

DAY = "2026-12-01"


@pytest.fixture
def client(container) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(container))


def register(client, name: str) -> int:
    fields = {"username": name, "password": "correct horse", "email": f"{name}@example.com"}
    return client.simulate_post("/api/User/register", params=fields).json["uid"]


def user(client, container, name: str) -> dict[str, str]:
    """Register a user and return the cookies of a session of theirs."""
    sid = uuid.uuid4().hex
    open_session(container.cache, sid, register(client, name))
    return {"sid": sid}


@pytest.fixture
def alice(client, container) -> dict[str, str]:
    return user(client, container, "alice")


def call(client, endpoint: str, cookies=None, **params) -> falcon.testing.Result:
    return client.simulate_post(f"/api/Calendar/{endpoint}", params=params, cookies=cookies)


def add(client, cookies, title: str = "Dentist", start: str = f"{DAY}T09:30:00Z", **fields) -> int:
    answer = call(client, "add", cookies, title=title, start=start, **fields)
    assert answer.status_code == 200, answer.json
    return answer.json["id"]


def listed(client, cookies, **params) -> list[dict]:
    answer = call(client, "events", cookies, **params)
    assert answer.status_code == 200 and "X-Stale" not in answer.headers, answer.json
    return answer.json["events"]


def refused(answer: falcon.testing.Result) -> tuple[int, int]:
    assert answer.json["message"]  # the envelope, never a page
    return answer.status_code, answer.json["error_code"]


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        ("add", {"title": "Dentist", "start": f"{DAY}T09:30:00Z"}),
        ("update", {"id": "1", "done": "1"}),
        ("delete", {"id": "1"}),
        ("events", {}),
    ],
)
def test_every_calendar_endpoint_needs_a_logged_in_user(client, endpoint, params):
    assert refused(call(client, endpoint, **params)) == (401, 202101)


def test_a_token_needs_the_calendar_scope(client, container):
    uid = register(client, "alice")
    issue_token(container.cache, "no-calendar", uid, ("messages",))
    issue_token(container.cache, "calendar", uid, ("calendar",))
    params = {"title": "Dentist", "start": f"{DAY}T09:30:00Z"}

    def with_token(token: str) -> falcon.testing.Result:
        headers = {"Authorization": f"Bearer {token}"}
        return client.simulate_post("/api/Calendar/add", params=params, headers=headers)

    assert refused(with_token("no-calendar")) == (403, 201206)
    assert with_token("calendar").status_code == 200


def test_a_client_sees_its_new_event_at_once_in_utc(client, alice, feeding):
    event_id = add(
        client,
        alice,
        start=f"{DAY}T09:30:00+08:00",
        end="1796093400",  # Unix seconds: 2026-12-01T02:50:00Z
        remind_at=f"{DAY}T01:00Z",
        note="bring the card",
    )

    assert listed(client, alice) == [
        {
            "id": event_id,
            "title": "Dentist",
            "start": f"{DAY}T01:30:00+00:00",
            "end": f"{DAY}T02:50:00+00:00",
            "remind_at": f"{DAY}T01:00:00+00:00",
            "note": "bring the card",
            "done": False,
        }
    ]


def test_a_client_sees_its_update_and_its_delete_at_once(client, alice, feeding):
    event_id = add(client, alice, end=f"{DAY}T10:00:00Z", remind_at=f"{DAY}T09:00:00Z")
    answer = call(client, "update", alice, id=event_id, title="Dentist, moved", end="", note="x")
    assert answer.status_code == 200 and answer.json["position"] > event_id

    [event] = listed(client, alice)
    assert (event["title"], event["end"], event["note"]) == ("Dentist, moved", None, "x")
    assert event["remind_at"] == f"{DAY}T09:00:00+00:00"  # what was not sent stays

    assert call(client, "update", alice, id=event_id, remind_at="").status_code == 200
    assert listed(client, alice)[0]["remind_at"] is None

    assert call(client, "delete", alice, id=event_id).status_code == 200
    assert refused(call(client, "events", alice)) == (404, 203101)


def test_an_update_that_changes_nothing_stores_nothing(client, alice):
    event_id = add(client, alice, title="Dentist")
    answer = call(client, "update", alice, id=event_id, title="Dentist")
    assert answer.status_code == 200 and "position" not in answer.json


def test_done_events_are_listed_only_with_all(client, alice, feeding):
    first = add(client, alice, title="first", start=f"{DAY}T08:00:00Z")
    second = add(client, alice, title="second", start=f"{DAY}T07:00:00Z")
    assert call(client, "update", alice, id=first, done="true").status_code == 200

    assert [e["id"] for e in listed(client, alice)] == [second]
    everything = listed(client, alice, all="1")
    assert [(e["id"], e["done"]) for e in everything] == [(second, False), (first, True)]


def test_a_range_lists_the_events_that_overlap_it_ordered_by_start(client, alice, feeding):
    def at(hour: int) -> str:
        return f"{DAY}T{hour:02d}:00:00Z"

    long = add(client, alice, title="long", start=at(6), end=at(12))
    early = add(client, alice, title="early", start=at(7))  # no end: an instant
    late = add(client, alice, title="late", start=at(11))
    tie = add(client, alice, title="tie", start=at(11))

    assert [e["id"] for e in listed(client, alice)] == [long, early, late, tie]
    assert [e["id"] for e in listed(client, alice, **{"from": at(8)})] == [long, late, tie]
    assert [e["id"] for e in listed(client, alice, to=at(11))] == [long, early]
    assert [e["id"] for e in listed(client, alice, **{"from": at(8), "to": at(11)})] == [long]
    answer = call(client, "events", alice, **{"from": at(13)})
    assert refused(answer) == (404, 203101)


def test_no_events_is_203101(client, alice):
    answer = call(client, "events", alice)
    assert refused(answer) == (404, 203101)
    assert answer.json["message"] == "No to-do events"


def test_someone_elses_event_is_not_found_and_stays_as_it_was(client, container, alice, feeding):
    bob = user(client, container, "bob")
    event_id = add(client, bob, title="Bob's")

    assert refused(call(client, "update", alice, id=event_id, title="mine")) == (404, 404)
    assert refused(call(client, "delete", alice, id=event_id)) == (404, 404)
    assert refused(call(client, "events", alice)) == (404, 203101)
    assert [e["title"] for e in listed(client, bob)] == ["Bob's"]


@pytest.mark.parametrize("endpoint", ["update", "delete"])
def test_an_unknown_or_deleted_event_is_not_found(client, container, alice, endpoint):
    welcome = container.log.head()  # the position of alice's welcome message: no event
    assert refused(call(client, endpoint, alice, id=999_999)) == (404, 404)
    assert refused(call(client, endpoint, alice, id=welcome)) == (404, 404)
    event_id = add(client, alice)
    assert call(client, "delete", alice, id=event_id).status_code == 200
    assert refused(call(client, endpoint, alice, id=event_id)) == (404, 404)


def test_update_without_an_id_is_203301(client, alice):
    answer = call(client, "update", alice, title="x")
    assert refused(answer) == (400, 203301)
    assert answer.json["message"] == "Event id not specified"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"start": f"{DAY}T09:30:00Z"}, "title"),
        ({"title": "Dentist"}, "start"),
        ({"title": " ", "start": f"{DAY}T09:30:00Z"}, "title"),
        ({"title": "Dentist", "start": f"{DAY}T09:30:00"}, "start"),  # no offset
        ({"title": "Dentist", "start": "tomorrow"}, "start"),
        ({"title": "Dentist", "start": "2026-02-30T09:30:00Z"}, "start"),
        ({"title": "Dentist", "start": f"{DAY}T09:30Z", "end": f"{DAY}T09:00Z"}, "end"),
        ({"title": "Dentist", "start": f"{DAY}T09:30Z", "remind_at": "soon"}, "remind_at"),
        ({"title": "Dentist", "start": f"{DAY}T09:30Z", "note": "x" * 2001}, "note"),
    ],
)
def test_a_bad_event_is_refused_naming_the_field_and_nothing_is_stored(
    client, container, alice, fields, named
):
    head = container.log.head()
    answer = call(client, "add", alice, **fields)

    assert refused(answer) == (400, 100004)
    assert named in answer.json["errors"]
    assert container.log.head() == head


def test_an_update_cannot_clear_the_start_nor_end_before_it(client, alice):
    event_id = add(client, alice, start=f"{DAY}T09:30:00Z")
    assert "start" in call(client, "update", alice, id=event_id, start="").json["errors"]
    answer = call(client, "update", alice, id=event_id, end=f"{DAY}T09:00:00Z")
    assert refused(answer) == (400, 100004) and "end" in answer.json["errors"]


def test_times_may_be_json_numbers_and_strings(client, alice, feeding):
    body = {"title": "Dentist", "start": 1796117400, "end": f"{DAY}T11:00:00+01:00"}
    answer = client.simulate_post("/api/Calendar/add", json=body, cookies=alice)
    assert answer.status_code == 200, answer.json
    [event] = listed(client, alice)
    assert (event["start"], event["end"]) == (f"{DAY}T09:30:00+00:00", f"{DAY}T10:00:00+00:00")

    digits = client.simulate_post(  # a JSON string is no number
        "/api/Calendar/add", json={**body, "start": "1796117400"}, cookies=alice
    )
    assert refused(digits) == (400, 100004)


def test_an_add_that_never_gets_stored_is_203201(client, container, alice, monkeypatch):
    def conflicting(*aggregates, **fields):
        raise IntegrityError("another writer")

    monkeypatch.setattr(container.app, "record", conflicting)
    monkeypatch.setattr("commands.handlers.ATTEMPTS", 2)

    answer = call(client, "add", alice, title="Dentist", start=f"{DAY}T09:30:00Z")
    assert refused(answer) == (500, 203201)
    assert answer.json["message"] == "Fail to add a event"
