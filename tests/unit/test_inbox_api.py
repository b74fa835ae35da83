"""The inbox in process on the embedded default: listing, paging, reading, who may read what."""

from __future__ import annotations

import uuid

import pytest

from commands.inbox import message
from domain.inbox import Message
from tests.credentials import issue_token, open_session

PASSWORD = "correct horse"


def register(client, username: str) -> int:
    fields = {"username": username, "password": PASSWORD, "email": f"{username}@example.com"}
    return client.simulate_post("/api/User/register", params=fields).json["uid"]


def session(embedded, uid: int) -> dict[str, str]:
    sid = uuid.uuid4().hex
    open_session(embedded.cache, sid, uid)
    return {"sid": sid}


def send(embedded, uid: int, *texts: str, error_code: int = 0) -> int:
    """Store messages to `uid` as a later command would; return the last position."""
    return embedded.app.record(*[message(uid, text, error_code) for text in texts]).position


def inbox(client, cookies, **params):
    return client.simulate_post("/api/User/message", params=params, cookies=cookies)


@pytest.fixture
def alice(client, embedded) -> dict[str, str]:
    return session(embedded, register(client, "alice"))


def test_the_inbox_needs_a_logged_in_user(client):
    answer = inbox(client, None)
    assert (answer.status_code, answer.json["error_code"]) == (401, 202101)


@pytest.mark.parametrize(("scopes", "status"), [(("calendar",), 403), (("messages",), 200)])
def test_a_token_reads_the_inbox_only_with_the_messages_scope(client, embedded, scopes, status):
    issue_token(embedded.cache, "tok", register(client, "alice"), scopes)

    answer = client.simulate_post("/api/User/message", headers={"Authorization": "Bearer tok"})
    assert answer.status_code == status


def test_a_new_user_finds_a_welcome_message_unread(client, embedded, alice, feeding):
    answer = inbox(client, alice, min_position=embedded.log.head())

    assert answer.status_code == 200 and "X-Stale" not in answer.headers
    body = answer.json
    assert (body["unread"], body["total"], body["page"], body["per_page"]) == (1, 1, 1, 20)
    [welcome] = body["messages"]
    assert welcome["text"].startswith("Welcome to Upare, alice!")
    assert (welcome["error_code"], welcome["read"]) == (0, False)
    assert welcome["sent_at"].endswith("+00:00")


def test_messages_come_newest_first_a_page_at_a_time(client, embedded, alice, project):
    send(embedded, 10001, *[f"note {n}" for n in range(25)])
    project()

    first = inbox(client, alice).json
    second = inbox(client, alice, page=2).json
    small = inbox(client, alice, page=3, per_page=5).json
    beyond = inbox(client, alice, page=9).json

    texts = [m["text"] for m in first["messages"] + second["messages"]]
    assert texts[:21] == [f"note {n}" for n in range(24, 3, -1)]
    assert texts[-1].startswith("Welcome")
    ids = [m["id"] for m in first["messages"] + second["messages"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 26
    assert (len(first["messages"]), len(second["messages"]), first["total"]) == (20, 6, 26)
    assert [m["text"] for m in small["messages"]] == [f"note {n}" for n in range(14, 9, -1)]
    assert (beyond["messages"], beyond["total"], beyond["unread"]) == ([], 26, 26)


@pytest.mark.parametrize("params", [{"per_page": 101}, {"per_page": 0}, {"page": 0}, {"id": "x"}])
def test_paging_out_of_bounds_is_refused_by_name(client, alice, params):
    answer = inbox(client, alice, **params)

    assert (answer.status_code, answer.json["error_code"]) == (400, 100004)
    assert set(answer.json["errors"]) == set(params)


def test_reading_a_message_marks_it_read_with_an_event(client, embedded, alice, feeding):
    first = send(embedded, 10001, "one", "two", error_code=204104) - 1  # "one" is unread

    answer = inbox(client, alice, id=first)

    assert answer.status_code == 200 and "X-Stale" not in answer.headers
    body = answer.json
    assert body["message"] == {
        "id": first,
        "text": "one",
        "error_code": 204104,
        "read": True,
        "sent_at": body["message"]["sent_at"],
    }
    assert body["unread"] == 2  # the welcome and "two"
    assert [m["read"] for m in body["messages"]] == [False, True, False]
    [stored] = embedded.log.read(body["position"] - 1, 1)
    assert stored.type == "Message.Read"


def test_reading_a_read_message_again_stores_nothing(client, embedded, alice, feeding):
    first = send(embedded, 10001, "one")
    inbox(client, alice, id=first)
    head = embedded.log.head()

    again = inbox(client, alice, id=first)

    assert again.status_code == 200 and again.json["message"]["read"] is True
    assert "position" not in again.json
    assert embedded.log.head() == head


def test_someone_elses_or_an_unknown_message_is_not_found(client, embedded, alice, feeding):
    bob = register(client, "bob")
    theirs = send(embedded, bob, "for bob only")
    registered = 1  # the position of alice's User.Registered: an event, but no message

    for message_id in (theirs, registered, 10**9):
        answer = inbox(client, alice, id=message_id)
        assert (answer.status_code, answer.json["error_code"]) == (404, 404)
        assert answer.json["message"] == "Not found"
    unread = inbox(client, session(embedded, bob), min_position=theirs).json["unread"]
    assert unread == 2  # bob's welcome and his message: still unread


def test_the_inbox_shows_only_the_callers_messages(client, embedded, alice, project):
    send(embedded, register(client, "bob"), "for bob only")
    project()

    texts = [m["text"] for m in inbox(client, alice).json["messages"]]
    assert texts == ["Welcome to Upare, alice! Your messages arrive here."]


@pytest.mark.parametrize(("text", "error_code"), [(" ", 0), ("hello", 999)])
def test_a_message_needs_a_text_and_a_documented_code(text, error_code):
    with pytest.raises(ValueError):
        message(10001, text, error_code)


def test_a_message_is_unread_until_read():
    note = Message.write(uid=10001, text="hi")
    assert note.unread
    note.read()
    assert not note.unread
    assert [type(e).__name__ for e in note.collect_events()] == ["Sent", "Read"]


def test_the_openapi_document_says_message_and_position_come_only_with_an_id(client):
    document = client.simulate_get("/openapi.json").json
    success = document["paths"]["/api/user/message"]["post"]["responses"]["200"]
    fields = success["content"]["application/json"]["schema"]["allOf"][1]

    assert fields["required"] == ["messages", "unread", "total", "page", "per_page"]
    assert {"message", "position"} <= set(fields["properties"])
