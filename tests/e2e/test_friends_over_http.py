"""Friends end to end: a real `upare serve` (with its embedded worker, the notifier included)
over HTTP, on the embedded default and on PostgreSQL + Redis: make, list, recommend, delete,
and friendmake's 204104 with a mail server that is down."""

from __future__ import annotations

import pytest

from commands.users import load_user
from tests import backends
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.e2e.social import post
from tests.integration.smtp import SmtpServer
from upare.bootstrap import bootstrap

DOWN = SmtpServer()  # nothing listens on its port: every mail fails


@pytest.fixture
def server_env(settings) -> dict[str, str]:
    return {
        **backends.server_env(settings),
        "UPARE_MAIL_URL": DOWN.url,
        "UPARE_NOTIFY_BACKOFF": "0.2",  # three attempts within a second
    }


def test_the_social_flow_over_http(server, users):
    (ann, ann_sid), (bob, bob_sid), (cat, cat_sid) = users("ann", "bob", "cat")

    notified = post(server, "friendmake", ann_sid, fid=bob, wait=10)  # no mail: inbox only
    assert (notified.status_code, notified.json()["notified"]) == (200, True)
    made = post(server, "friendmake", bob_sid, fid=cat)
    assert made.status_code == 200 and made.json()["notified"] in ("pending", True)

    mine = post(server, "friends", bob_sid)  # read-your-writes, at once
    assert [f["uid"] for f in mine.json()["friends"]] == [ann, cat]
    wanted = {"min_position": made.json()["position"]}
    recommended = post(server, "friendsrecommend", ann_sid, **wanted).json()["users"]
    assert [(user["uid"], user["mutual"]) for user in recommended] == [(cat, 1)]
    assert post(server, "friendmake", cat_sid, fid=bob).json()["error_code"] == 204102

    ended = post(server, "frienddel", ann_sid, fid=bob)
    assert ended.status_code == 200
    assert post(server, "friendsrecommend", ann_sid).json()["error_code"] == 204101
    assert post(server, "friends", ann_sid).json()["error_code"] == 204101
    again = post(server, "frienddel", ann_sid, fid=bob)
    assert (again.status_code, again.json()["error_code"]) == (400, 204103)


def test_friendmake_answers_204104_when_the_friend_cannot_be_mailed(server, settings, users):
    (_, ann_sid), (bob, _) = users("ann", "bob")
    with bootstrap(settings) as store:  # bob verified his email: the notifier mails him
        user = load_user(store.app, bob)
        user.verify("email", "bob@example.com")
        store.app.record(user)

    answer = post(server, "friendmake", ann_sid, fid=bob, wait=10)

    assert answer.status_code == 502
    body = answer.json()
    assert (body["error_code"], body["message"]) == (204104, "Failed to notify your friend")
    assert (body["fid"], body["notified"]) == (bob, False)
    [friend] = post(server, "friends", ann_sid).json()["friends"]  # the friendship stands
    assert (friend["uid"], friend["notified"]) == (bob, False)
    messages = post(server, "message", ann_sid).json()["messages"]
    assert (messages[0]["text"], messages[0]["error_code"]) == (
        "Failed to notify your friend",
        204104,
    )
