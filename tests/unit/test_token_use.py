"""Access tokens on real endpoints (CONTRACT 3): every caller code, on the embedded cache and on
Redis; the request rates per token and per client; scopes per endpoint."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import falcon.testing
import pytest

from api.app import create_app
from commands.clients import CreateClient, DeleteClient
from domain.keys import digest
from tests.credentials import issue_token, open_session
from tests.integration.feeds import project
from tests.pictures import multipart, picture
from upare import sessions
from upare.bootstrap import Container, bootstrap
from upare.cache import RedisCache

FORM = {"username": "alice", "password": "correct horse", "email": "alice@x.io"}
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there
TOKEN_RATE, CLIENT_RATE = 3, 5  # a minute


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def wired(request, embedded) -> Iterator[Container]:
    """A container with low token rates, its cache the embedded SQLite file or Redis."""
    settings = replace(
        embedded.settings,
        oauth_token_rate=f"{TOKEN_RATE}/minute",
        oauth_client_rate=f"{CLIENT_RATE}/minute",
    )
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings = replace(settings, redis_url=url, redis_prefix=f"test-{uuid.uuid4().hex}:")
    with bootstrap(settings) as container:
        yield container


@pytest.fixture
def client(wired) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(wired))


@pytest.fixture
def alice(client, wired) -> int:
    uid = client.simulate_post("/api/User/register", params=FORM).json["uid"]
    project(wired)
    return uid


def token(container: Container, uid: int, scopes=("user_info",), client_id="100000000000001"):
    """Cache a fresh access token as the token endpoint does; return it."""
    secret = uuid.uuid4().hex
    sessions.cache_token(
        container.cache,
        digest(secret),
        uid=uid,
        client_id=client_id,
        scopes=list(scopes),
        expires_at=time.time() + 600,
        authorization=uuid.uuid4().hex,
    )
    return secret


def info(client, secret: str, how: str = "bearer") -> falcon.testing.Result:
    if how == "bearer":
        return client.simulate_post("/api/User/info", headers={"Authorization": f"Bearer {secret}"})
    return client.simulate_post("/api/User/info", params={"access_token": secret})


@pytest.mark.parametrize("how", ["bearer", "access_token"])
def test_a_token_answers_its_users_own_profile(client, wired, alice, how):
    answer = info(client, token(wired, alice), how)
    assert answer.status_code == 200, answer.text
    assert (answer.json["user"]["uid"], answer.json["user"]["email"]) == (alice, "alice@x.io")


@pytest.mark.parametrize("how", ["bearer", "access_token"])
def test_an_unknown_token_is_invalid(client, alice, how):
    answer = info(client, "never-issued", how)
    assert (answer.status_code, answer.json["error_code"]) == (401, 201201)


def test_an_empty_access_token_is_required(client, alice):
    answer = client.simulate_post("/api/User/message", params={"access_token": ""})
    assert (answer.status_code, answer.json["error_code"]) == (401, 201202)


@pytest.mark.parametrize("how", ["bearer", "access_token"])
def test_an_expired_or_revoked_token_does_not_exist_any_more(client, wired, alice, how):
    issue_token(wired.cache, "expired", alice, expires_in=-1)
    revoked = token(wired, alice)
    sessions.revoke_token(wired.cache, digest(revoked))
    for secret in ("expired", revoked):
        answer = info(client, secret, how)
        assert (answer.status_code, answer.json["error_code"]) == (401, 201203)


def test_the_tokens_of_a_deleted_client_stop_at_the_next_request(client, wired, alice):
    made = wired.bus.execute(CreateClient(name="Diary", redirect_uris=("https://a.example/cb",)))
    secret = token(wired, alice, client_id=made.fields["client_id"])
    assert info(client, secret).status_code == 200

    wired.bus.execute(DeleteClient(client_id=made.fields["client_id"]))

    answer = info(client, secret)
    assert (answer.status_code, answer.json["error_code"]) == (401, 201203)


@pytest.mark.parametrize(
    ("path", "scopes", "code"),
    [
        ("/api/User/message", ("user_info",), 201206),
        ("/api/User/message", ("messages",), 0),
        ("/api/User/message", ("all",), 0),
        ("/api/User/info", ("messages",), 201206),
        ("/api/User/info", ("all",), 0),
        ("/api/User/sendcode", ("calendar",), 201206),
        ("/api/User/setAvatar", ("friends",), 201206),
        ("/api/User/unbind", ("messages",), 201206),
        ("/api/User/logout", ("messages",), 201206),
    ],
)
def test_a_token_reaches_only_the_endpoints_its_scopes_allow(
    client, wired, alice, path, scopes, code
):
    body, headers = multipart(files={"avatar": picture()}) if "Avatar" in path else (b"", {})
    headers["Authorization"] = f"Bearer {token(wired, alice, scopes)}"
    answer = client.simulate_post(path, headers=headers, body=body)
    assert answer.json["error_code"] == code, answer.text
    assert answer.status_code == (403 if code else 200)


def test_a_session_keeps_every_scope(client, wired, alice):
    open_session(wired.cache, "mine", alice)
    answer = client.simulate_post("/api/User/message", cookies={"sid": "mine"})
    assert answer.json["error_code"] == 0


def refused_after(client, secrets: list[str], allowed: int) -> falcon.testing.Result:
    """Make `allowed` requests with these tokens in turn, all answered; return the next one."""
    for n in range(allowed):
        assert info(client, secrets[n % len(secrets)]).status_code == 200
    return info(client, secrets[allowed % len(secrets)])


def assert_out_of_rate(answer: falcon.testing.Result) -> None:
    assert (answer.status_code, answer.json["error_code"]) == (429, 201204)
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


def test_a_token_past_its_rate_waits_for_the_window(client, wired, alice):
    mine = token(wired, alice)
    assert_out_of_rate(refused_after(client, [mine], TOKEN_RATE))
    assert info(client, token(wired, alice)).status_code == 200  # another token of the client


def test_a_client_past_its_rate_waits_for_the_window_whatever_the_token(client, wired, alice):
    several = [token(wired, alice) for _ in range(3)]
    assert_out_of_rate(refused_after(client, several, CLIENT_RATE))
    other_client = token(wired, alice, client_id="100000000000002")
    assert info(client, other_client).status_code == 200


def test_requests_with_a_spent_or_unknown_token_are_not_counted(client, wired, alice):
    spent = token(wired, alice)
    sessions.revoke_token(wired.cache, digest(spent))
    for _ in range(CLIENT_RATE + 1):
        assert info(client, spent).json["error_code"] == 201203
        assert info(client, uuid.uuid4().hex).json["error_code"] == 201201
    assert_out_of_rate(refused_after(client, [token(wired, alice)], TOKEN_RATE))


def test_token_requests_count_in_the_windows_limits_keeps(client, wired, alice):
    rates, client_id = wired.token_rates, "100000000000001"
    refused_after(client, [token(wired, alice) for _ in range(CLIENT_RATE)], CLIENT_RATE - 1)
    assert wired.limits.retry_after(rates.per_client, "oauth-client", client_id) is not None
    wired.limits.clear(rates.per_client, "oauth-client", client_id)
    assert info(client, token(wired, alice)).status_code == 200


def test_sessions_and_anonymous_callers_are_not_counted(client, wired, alice):
    open_session(wired.cache, "mine", alice)
    for _ in range(CLIENT_RATE + 1):
        assert client.simulate_post("/api/User/info", cookies={"sid": "mine"}).status_code == 200
        assert client.simulate_post("/api/User/info", params={"uid": alice}).status_code == 200


def test_a_token_fails_closed_when_redis_is_unreachable(embedded):
    embedded.cache = RedisCache(DEAD_REDIS)
    client = falcon.testing.TestClient(create_app(embedded))
    for presented in (
        {"headers": {"Authorization": "Bearer t"}},
        {"params": {"access_token": "t"}},
    ):
        answer = client.simulate_post("/api/User/message", **presented)
        assert (answer.status_code, answer.json["error_code"]) == (503, 201207)
        assert answer.headers["Retry-After"].isdigit()
