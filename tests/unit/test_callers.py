"""Who is calling (CONTRACT 3): sessions, bearer tokens and access_token, checked in one place."""

from __future__ import annotations

import uuid

import falcon
import falcon.testing
import pytest

from api.app import create_app
from api.callers import USER
from api.envelope import respond
from api.resource import Resource
from domain.keys import digest
from tests.credentials import issue_token, open_session
from upare.cache import RedisCache

FORM = {"username": "alice", "password": "correct horse", "email": "alice@x.io"}
DEAD_CACHE = "redis://127.0.0.1:1/0"  # nothing listens there


class Calendar(Resource):
    """A resource that needs a user whose token has the calendar scope."""

    path = "/api/test/calendar"
    summary = "Answer the caller's uid"
    caller = USER.scope("calendar")

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(req, resp, {"uid": req.context.caller.uid, "kind": req.context.caller.kind})


@pytest.fixture
def alice(client, project) -> int:
    uid = client.simulate_post("/api/User/register", params=FORM).json["uid"]
    project()
    return uid


@pytest.fixture
def calendar(embedded) -> falcon.testing.TestClient:
    app = create_app(embedded)
    app.add_route(Calendar.path, Calendar(embedded))
    return falcon.testing.TestClient(app)


def info(client, **request) -> falcon.testing.Result:
    return client.simulate_post("/api/User/info", **request)


def test_info_without_a_uid_needs_someone_logged_in(client, alice):
    answer = info(client)
    assert (answer.status_code, answer.json["error_code"]) == (401, 202101)


@pytest.mark.parametrize(
    "presented",
    [
        {"cookies": {"sid": "cookie-secret"}},
        {"headers": {"Authorization": "Bearer token-secret"}},
        {"params": {"access_token": "token-secret"}},
    ],
    ids=["sid cookie", "bearer header", "access_token parameter"],
)
def test_info_without_a_uid_answers_the_callers_own_profile(client, embedded, alice, presented):
    open_session(embedded.cache, "cookie-secret", alice)
    issue_token(embedded.cache, "token-secret", alice, scopes=("user_info",))
    answer = info(client, **presented)
    assert answer.status_code == 200, answer.text
    assert answer.json["user"]["username"] == "alice"


@pytest.mark.parametrize(
    ("token", "code"),
    [("unknown", 201201), ("expired", 201203), ("revoked", 201203), ("", 201202)],
)
def test_a_token_that_is_presented_is_checked(client, embedded, alice, token, code):
    issue_token(embedded.cache, "expired", alice, expires_in=-1)
    issue_token(embedded.cache, "revoked", alice, revoked=True)
    answer = info(client, params={"uid": alice, "access_token": token})
    assert (answer.status_code, answer.json["error_code"]) == (401, code)


def test_an_unknown_session_cookie_is_just_anonymous(client, alice):
    answer = info(client, params={"uid": alice}, cookies={"sid": "stale"})
    assert answer.json["user"]["uid"] == alice


def test_anyone_may_register_with_a_stale_token(client):
    answer = client.simulate_post("/api/User/register", params={**FORM, "access_token": "stale"})
    assert answer.json["error_code"] == 0


@pytest.mark.parametrize(
    ("scopes", "code"),
    [(("calendar",), 0), (("all",), 0), (("friends",), 201206)],
)
def test_a_token_reaches_only_what_its_scopes_allow(calendar, embedded, scopes, code):
    issue_token(embedded.cache, "t", 10001, scopes=scopes)
    answer = calendar.simulate_post(Calendar.path, headers={"Authorization": "Bearer t"})
    assert answer.json["error_code"] == code
    assert answer.status_code == (200 if code == 0 else 403)


def test_a_session_has_every_scope_and_an_anonymous_one_no_user(calendar, embedded):
    open_session(embedded.cache, "mine", 10001)
    open_session(embedded.cache, "nobody", None)
    mine = calendar.simulate_post(Calendar.path, cookies={"sid": "mine"}).json
    nobody = calendar.simulate_post(Calendar.path, cookies={"sid": "nobody"})
    assert (mine["uid"], mine["kind"]) == (10001, "session")
    assert (nobody.status_code, nobody.json["error_code"]) == (401, 202101)


@pytest.fixture
def unreachable_cache(embedded) -> falcon.testing.TestClient:
    embedded.cache = RedisCache(DEAD_CACHE)
    return falcon.testing.TestClient(create_app(embedded))


@pytest.mark.parametrize(
    ("presented", "code"),
    [({"cookies": {"sid": "s"}}, 100003), ({"headers": {"Authorization": "Bearer t"}}, 201207)],
    ids=["session", "token"],
)
def test_checks_fail_closed_when_the_cache_is_unreachable(unreachable_cache, presented, code):
    answer = info(unreachable_cache, params={"uid": 10001}, **presented)
    assert (answer.status_code, answer.json["error_code"]) == (503, code)
    assert answer.headers["Retry-After"].isdigit()


def test_register_stores_the_account_when_the_cache_is_unreachable(unreachable_cache, caplog):
    answer = unreachable_cache.simulate_post(
        "/api/User/register", params=FORM, cookies={"sid": "s"}
    )
    # stored, but no code could be kept for its mail: 202201 with the new uid
    assert (answer.status_code, answer.json["error_code"]) == (502, 202201)
    assert answer.json["uid"] == 10001
    assert "anonymous" in caplog.text


@pytest.mark.redis
def test_sessions_and_tokens_resolve_from_redis(embedded, redis_url, project):
    embedded.cache = RedisCache(redis_url, prefix=f"test-{uuid.uuid4().hex}:")  # Redis is shared
    client = falcon.testing.TestClient(create_app(embedded))
    alice = client.simulate_post("/api/User/register", params=FORM).json["uid"]
    project()
    sid, token = uuid.uuid4().hex, uuid.uuid4().hex  # the Redis server is shared
    open_session(embedded.cache, sid, alice)
    issue_token(embedded.cache, token, alice, scopes=("user_info",))

    assert info(client, cookies={"sid": sid}).json["user"]["uid"] == alice
    assert info(client, headers={"Authorization": f"Bearer {token}"}).json["user"]["uid"] == alice
    embedded.cache.delete(f"token:{digest(token)}")
    assert info(client, params={"access_token": token}).json["error_code"] == 201201


@pytest.mark.redis
def test_read_your_writes_is_keyed_on_the_resolved_caller(embedded, redis_url):
    embedded.cache = RedisCache(redis_url, prefix=f"test-{uuid.uuid4().hex}:")  # Redis is shared
    client = falcon.testing.TestClient(create_app(embedded))
    known, stranger = uuid.uuid4().hex, uuid.uuid4().hex  # the Redis server is shared
    open_session(embedded.cache, known, None)

    mine = client.simulate_post("/api/User/register", params=FORM, cookies={"sid": known})
    theirs = client.simulate_post(
        "/api/User/register",
        params={**FORM, "username": "bob", "email": "bob@x.io"},
        cookies={"sid": stranger},
    )

    assert embedded.cache.get("ryw:" + digest(known)) == str(mine.json["position"]).encode()
    assert theirs.json["error_code"] == 0
    assert embedded.cache.get("ryw:" + digest(stranger)) is None
