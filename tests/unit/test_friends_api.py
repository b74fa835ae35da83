"""Friends in process on the embedded default: every code of the four endpoints, friendship
mutual at once, read-your-writes after each command, and friendmake's `wait`."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from domain.friends import Friendship, friendship_id
from queries.freshness import MAX_WAIT_SECONDS
from tests.credentials import issue_token, open_session

PASSWORD = "correct horse"


@pytest.fixture
def users(client, embedded, feeding):
    """Register users on demand; return (uid, session cookies) for each name asked."""

    def make(*names: str) -> list[tuple[int, dict[str, str]]]:
        made = []
        for name in names:
            fields = {"username": name, "password": PASSWORD, "email": f"{name}@example.com"}
            uid = client.simulate_post("/api/User/register", params=fields).json["uid"]
            sid = uuid.uuid4().hex
            open_session(embedded.cache, sid, uid)
            made.append((uid, {"sid": sid}))
        return made

    return make


def call(client, endpoint: str, cookies, **params):
    return client.simulate_post(f"/api/User/{endpoint}", params=params, cookies=cookies)


def refused(answer) -> tuple[int, int, str]:
    return answer.status_code, answer.json["error_code"], answer.json["message"]


@pytest.mark.parametrize("endpoint", ["friends", "friendmake", "frienddel", "friendsrecommend"])
def test_the_friends_endpoints_need_a_logged_in_user(client, endpoint):
    answer = call(client, endpoint, None, fid=10001)
    assert refused(answer) == (401, 202101, "Not logged in yet")


@pytest.mark.parametrize(("scopes", "status"), [(("calendar",), 403), (("friends",), 404)])
def test_a_token_reaches_friends_only_with_its_scope(client, embedded, users, scopes, status):
    [(alice, _)] = users("alice")
    issue_token(embedded.cache, "tok", alice, scopes)

    answer = client.simulate_post("/api/User/friends", headers={"Authorization": "Bearer tok"})
    assert answer.status_code == status  # 404: allowed, and no friends yet (204101)


def test_making_a_friend_is_mutual_and_seen_at_once_by_both(client, users):
    (alice, alice_sid), (bob, bob_sid) = users("alice", "bob")

    made = call(client, "friendmake", alice_sid, fid=bob)

    assert made.status_code == 200
    assert (made.json["fid"], made.json["notified"]) == (bob, "pending")
    mine = call(client, "friends", alice_sid)  # no min_position: read-your-writes
    theirs = call(client, "friends", bob_sid, min_position=made.json["position"])
    assert "X-Stale" not in mine.headers and "X-Stale" not in theirs.headers
    [friend] = mine.json["friends"]
    assert (friend["uid"], friend["nickname"], friend["avatar"]) == (bob, "bob", None)
    assert friend["notified"] == "pending" and friend["since"].endswith("+00:00")
    assert [f["uid"] for f in theirs.json["friends"]] == [alice]


def test_friendmake_does_not_wait_for_the_callers_writes_to_be_projected(client, embedded):
    """A command is answered while the projections lag behind the caller (none runs here):
    only queries wait for the caller's writes (CONTRACT 10)."""
    alice, bob, carol = (
        client.simulate_post(
            "/api/User/register",
            params={"username": name, "password": PASSWORD, "email": f"{name}@example.com"},
        ).json["uid"]
        for name in ("alice", "bob", "carol")
    )
    open_session(embedded.cache, "alice-sid", alice)
    assert call(client, "friendmake", {"sid": "alice-sid"}, fid=bob).status_code == 200

    started = time.monotonic()
    made = call(client, "friendmake", {"sid": "alice-sid"}, fid=carol)

    assert time.monotonic() - started < MAX_WAIT_SECONDS / 2
    assert made.status_code == 200 and "X-Stale" not in made.headers


def test_no_friends_is_204101(client, users):
    [(_, alice_sid)] = users("alice")
    assert refused(call(client, "friends", alice_sid)) == (404, 204101, "No friends found")


def test_befriending_an_unknown_uid_is_202001(client, users):
    [(_, alice_sid)] = users("alice")
    for endpoint in ("friendmake", "frienddel"):
        answer = call(client, endpoint, alice_sid, fid=99999)
        assert refused(answer) == (404, 202001, "Account does not exist")


def test_befriending_oneself_is_100004_naming_fid(client, users):
    [(alice, alice_sid)] = users("alice")
    for endpoint in ("friendmake", "frienddel"):
        answer = call(client, endpoint, alice_sid, fid=alice)
        assert refused(answer) == (400, 100004, "Validation failed")
        assert set(answer.json["errors"]) == {"fid"}


@pytest.mark.parametrize("params", [{}, {"fid": "x"}, {"fid": 10002, "wait": 11}])
def test_a_missing_or_bad_fid_or_wait_is_refused_by_name(client, users, params):
    [(_, alice_sid)] = users("alice")
    answer = call(client, "friendmake", alice_sid, **params)
    assert refused(answer)[:2] == (400, 100004)
    assert set(answer.json["errors"]) == ({"wait"} if "wait" in params else {"fid"})


def test_befriending_a_friend_again_is_204102_from_either_side(client, users):
    (alice, alice_sid), (bob, bob_sid) = users("alice", "bob")
    call(client, "friendmake", alice_sid, fid=bob)

    assert refused(call(client, "friendmake", alice_sid, fid=bob)) == (
        409,
        204102,
        "Failed to make friends",
    )
    assert refused(call(client, "friendmake", bob_sid, fid=alice))[1] == 204102


def test_unfriending_ends_it_for_both_and_then_is_204103(client, users):
    (alice, alice_sid), (bob, bob_sid) = users("alice", "bob")
    call(client, "friendmake", alice_sid, fid=bob)

    ended = call(client, "frienddel", bob_sid, fid=alice)

    assert ended.status_code == 200 and ended.json["position"] > 0
    assert refused(call(client, "friends", bob_sid))[1] == 204101
    gone = call(client, "friends", alice_sid, min_position=ended.json["position"])
    assert refused(gone)[1] == 204101
    again = call(client, "frienddel", alice_sid, fid=bob)
    assert refused(again) == (400, 204103, "Failed to delete a friend")


def test_unfriending_someone_never_befriended_is_204103(client, users):
    (_, alice_sid), (bob, _) = users("alice", "bob")
    assert refused(call(client, "frienddel", alice_sid, fid=bob))[1] == 204103


def test_an_ended_friendship_can_be_made_again_from_the_other_side(client, users):
    (alice, alice_sid), (bob, bob_sid) = users("alice", "bob")
    call(client, "friendmake", alice_sid, fid=bob)
    call(client, "frienddel", alice_sid, fid=bob)

    again = call(client, "friendmake", bob_sid, fid=alice)

    assert again.status_code == 200
    assert [f["uid"] for f in call(client, "friends", bob_sid).json["friends"]] == [alice]


def test_recommendations_rank_by_mutual_friends_then_uid(client, users):
    made = users("meg", "ann", "bea", "cat", "dan", "eve")
    (_, me_sid), (ann, ann_sid), (bea, bea_sid), (cat, cat_sid), (dan, _), (eve, _) = made
    assert refused(call(client, "friendsrecommend", me_sid)) == (404, 204101, "No friends found")
    for fid in (ann, bea, cat):
        call(client, "friendmake", me_sid, fid=fid)
    call(client, "friendmake", ann_sid, fid=eve)
    call(client, "friendmake", bea_sid, fid=eve)
    call(client, "friendmake", ann_sid, fid=dan)
    last = call(client, "friendmake", cat_sid, fid=bea)  # a friend's friend who is my friend

    answer = call(client, "friendsrecommend", me_sid, min_position=last.json["position"])

    assert answer.status_code == 200 and "X-Stale" not in answer.headers
    ranked = [(user["uid"], user["nickname"], user["mutual"]) for user in answer.json["users"]]
    assert ranked == [(eve, "eve", 2), (dan, "dan", 1)]
    top = call(client, "friendsrecommend", me_sid, limit=1).json["users"]
    assert [user["uid"] for user in top] == [eve]


@pytest.mark.parametrize("limit", [0, 101, "many"])
def test_a_limit_out_of_bounds_is_refused(client, users, limit):
    [(_, alice_sid)] = users("alice")
    answer = call(client, "friendsrecommend", alice_sid, limit=limit)
    assert refused(answer)[:2] == (400, 100004) and set(answer.json["errors"]) == {"limit"}


def record_outcome(embedded, uid: int, fid: int, failed: bool) -> threading.Thread:
    """Record the round's notification outcome from a thread once the friendship is stored, as
    the notification worker does."""

    def notify() -> None:
        while not embedded.app.exists(friendship_id(uid, fid)):
            threading.Event().wait(0.01)
        friendship: Friendship = embedded.app.repository.get(friendship_id(uid, fid))
        if failed:
            friendship.notification_failed(friendship.round, "the mail server refused")
        else:
            friendship.notified(friendship.round)
        embedded.app.save(friendship)

    thread = threading.Thread(target=notify)
    thread.start()
    return thread


def test_friendmake_waits_for_a_failed_notification_and_answers_204104(client, embedded, users):
    (alice, alice_sid), (bob, _) = users("alice", "bob")
    notifier = record_outcome(embedded, alice, bob, failed=True)

    answer = call(client, "friendmake", alice_sid, fid=bob, wait=5)
    notifier.join()

    assert refused(answer) == (502, 204104, "Failed to notify your friend")
    assert (answer.json["fid"], answer.json["notified"]) == (bob, False)
    [friend] = call(client, "friends", alice_sid).json["friends"]  # the friendship stands
    assert (friend["uid"], friend["notified"]) == (bob, False)


def test_friendmake_waits_for_a_notification_that_went_through(client, embedded, users):
    (alice, alice_sid), (bob, bob_sid) = users("alice", "bob")
    notifier = record_outcome(embedded, alice, bob, failed=False)

    answer = call(client, "friendmake", alice_sid, fid=bob, wait=5)
    notifier.join()

    assert answer.status_code == 200 and answer.json["notified"] is True
    [friend] = call(client, "friends", bob_sid, min_position=embedded.log.head()).json["friends"]
    assert friend["notified"] is True


def test_friendmake_stops_waiting_after_wait_seconds_with_pending(client, users):
    (_, alice_sid), (bob, _) = users("alice", "bob")

    answer = call(client, "friendmake", alice_sid, fid=bob, wait=1)

    assert answer.status_code == 200 and answer.json["notified"] == "pending"
