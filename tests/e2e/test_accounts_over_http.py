"""Accounts end to end: a real server, real HTTP, the embedded worker projecting."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests


def test_a_registered_user_can_be_looked_up_by_uid(server):
    answer = requests.post(
        f"{server}/api/User/register",
        data={"username": "alice", "password": "correct horse", "email": "alice@example.com"},
        timeout=10,
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["error_code"] == 0 and body["uid"] == 10001

    info = requests.post(
        f"{server}/api/User/info",
        data={"uid": body["uid"], "min_position": body["position"]},
        timeout=10,
    )
    assert info.status_code == 200
    assert "X-Stale" not in info.headers
    assert info.json()["user"] == {
        "uid": 10001,
        "username": "alice",
        "nickname": "alice",
        "avatar": None,
    }


def test_duplicates_answer_409_with_their_codes(server):
    first = {"username": "alice", "password": "correct horse", "email": "alice@example.com"}
    requests.post(f"{server}/api/User/register", data=first, timeout=10).raise_for_status()

    same_name = requests.post(
        f"{server}/apis/user/register/", json={**first, "email": "other@example.com"}, timeout=10
    )
    same_email = requests.post(
        f"{server}/api/User/register", json={**first, "username": "other"}, timeout=10
    )
    assert (same_name.status_code, same_name.json()["error_code"]) == (409, 202002)
    assert (same_email.status_code, same_email.json()["error_code"]) == (409, 202003)


def test_50_concurrent_registrations_of_one_username_over_http_give_one_account(server):
    def attempt(n: int) -> dict:
        answer = requests.post(
            f"{server}/api/User/register",
            data={
                "username": "popular" if n % 2 else "Popular",  # one name, in any case
                "password": "correct horse",
                "email": f"p{n}@x.io",
            },
            timeout=60,
        )
        return answer.json()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(attempt, range(50)))

    codes = sorted(answer["error_code"] for answer in answers)
    assert codes == [0] + [202002] * 49
    winner = next(answer for answer in answers if answer["error_code"] == 0)
    seen = {"min_position": winner["position"]}
    # Threads of one worker try different uids at once, so the winner's is one of the first few.
    infos = {
        uid: requests.post(f"{server}/api/User/info", data={"uid": uid, **seen}, timeout=10).json()
        for uid in range(10001, 10009)
    }
    assert infos.pop(winner["uid"])["user"]["username"].lower() == "popular"
    assert {info["error_code"] for info in infos.values()} == {202001}  # no second account
    after = requests.post(
        f"{server}/api/User/register",
        data={"username": "later", "password": "correct horse", "email": "later@x.io"},
        timeout=10,
    ).json()
    assert after["uid"] == min({10001, 10002} - {winner["uid"]})  # the uids stay dense


def test_validate_unique_username_sees_a_registration(server):
    done = requests.post(
        f"{server}/api/User/register",
        data={"username": "alice", "password": "correct horse", "email": "alice@example.com"},
        timeout=10,
    ).json()
    taken = requests.post(
        f"{server}/api/User/validateUniqueUsername",
        data={"username": "ALICE", "min_position": done["position"]},
        timeout=10,
    ).json()
    free = requests.post(
        f"{server}/api/User/validateUniqueEmail", data={"email": "bob@example.com"}, timeout=10
    ).json()
    assert (taken["error_code"], taken["message"]) == (202002, "The username already registered")
    assert free["error_code"] == 0
