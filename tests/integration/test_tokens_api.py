"""The token endpoint, delete and revoke, in process on each backend (SQLite with its cache
file; PostgreSQL with Redis): every code of accessToken, delete and revoke, and the rules of
codes, refresh families, grants and password changes."""

from __future__ import annotations

from datetime import timedelta

import falcon.testing
import pytest

from api.app import create_app
from commands.profiles import ModifyBasicInfo
from commands.users import RegisterUser
from domain.keys import digest
from domain.oauth import client_aggregate_id, code_authorization_id
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.oauth import REDIRECT, basic, create_client, issue_code, s256
from upare import sessions
from upare.bootstrap import utc_now

TOKEN = "/api/Oauth/accessToken"
VERIFIER = "v" * 43


@pytest.fixture
def now(container):
    """The bus's clock, which a test may move: `now[0] += timedelta(...)`."""
    moment = [utc_now()]
    container.clock = lambda: moment[0]
    return moment


@pytest.fixture
def client(container, now) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(container))


@pytest.fixture
def alice(container, now) -> int:
    command = RegisterUser(username="alice", password="correct horse", email="a@example.com")
    return container.bus.execute(command).fields["uid"]


@pytest.fixture
def app_(container, now) -> tuple[str, str]:
    """A confidential client allowed user_info and friends and the password grant."""
    client_id, secret = create_client(
        container, scopes=("user_info", "friends"), password_grant=True
    )
    assert secret is not None
    return client_id, secret


def post(client, path: str = TOKEN, headers: dict | None = None, **params) -> falcon.testing.Result:
    return client.simulate_post(path, params=params, headers=headers)


def exchange(client, app_, code: str, **extra) -> falcon.testing.Result:
    client_id, secret = app_
    fields = {"grant_type": "authorization_code", "client_id": client_id}
    fields |= {"client_secret": secret, "code": code, "redirect_uri": REDIRECT, **extra}
    return post(client, **{k: v for k, v in fields.items() if v is not None})


def refresh(client, app_, token: str, **extra) -> falcon.testing.Result:
    client_id, secret = app_
    fields = {"grant_type": "refresh_token", "client_id": client_id, "client_secret": secret}
    return post(client, **fields, refresh_token=token, **extra)


def refused(result: falcon.testing.Result) -> tuple[int, int, str]:
    return result.status_code, result.json["error_code"], result.json["error"]


def works(client, token: str) -> int:
    """Return the error_code of a request that needs a user, with this token (0: it works)."""
    bearer = {"Authorization": f"Bearer {token}"}
    return client.simulate_post("/api/User/logout", headers=bearer).json["error_code"]


def test_a_code_gives_a_bearer_token_pair_that_works_and_is_stored_as_digests(
    client, container, alice, app_
):
    code = issue_code(container.app, alice, app_[0])
    answer = exchange(client, app_, code)
    assert answer.status_code == 200
    body = answer.json
    assert body["error_code"] == 0 and body["token_type"] == "Bearer"
    assert (body["uid"], body["scope"], body["expires_in"], body["remind_in"]) == (
        alice,
        "user_info",
        7200,
        6600,
    )
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Pragma"] == "no-cache"
    assert works(client, body["access_token"]) == 0
    stored = container.app.repository.get(code_authorization_id(digest(code)))
    assert digest(body["access_token"]) in stored.access
    assert stored.refresh_digest == digest(body["refresh_token"])


def test_the_second_exchange_of_a_code_fails_and_revokes_its_tokens(client, container, alice, app_):
    code = issue_code(container.app, alice, app_[0])
    first = exchange(client, app_, code).json

    assert refused(exchange(client, app_, code)) == (401, 201215, "invalid_grant")
    assert works(client, first["access_token"]) == 201203
    assert refused(refresh(client, app_, first["refresh_token"]))[1] == 201209


@pytest.mark.parametrize(
    "fault",
    [
        "unknown",
        "another client",
        "expired",
        "wrong verifier",
        "no verifier",
        "verifier, no challenge",
    ],
)
def test_a_code_that_is_not_good_for_this_exchange_answers_201215(
    client, container, alice, app_, now, fault
):
    challenge = (
        s256(VERIFIER) if "verifier" in fault and fault != "verifier, no challenge" else None
    )
    code = issue_code(container.app, alice, app_[0], challenge=challenge)
    extra: dict = {}
    credentials = app_
    if fault == "unknown":
        code = "not-a-code"
    elif fault == "another client":
        credentials = create_client(container)  # type: ignore[assignment]
    elif fault == "expired":
        now[0] += timedelta(minutes=10, seconds=1)
    elif fault == "wrong verifier":
        extra = {"code_verifier": "w" * 43}
    elif fault == "verifier, no challenge":
        extra = {"code_verifier": VERIFIER}

    assert refused(exchange(client, credentials, code, **extra)) == (401, 201215, "invalid_grant")


def test_a_code_works_until_its_tenth_minute(client, container, alice, app_, now):
    code = issue_code(
        container.app, alice, app_[0], expires_at=(now[0] + timedelta(minutes=10)).timestamp()
    )
    now[0] += timedelta(minutes=9, seconds=59)
    assert exchange(client, app_, code).status_code == 200


def test_pkce_s256_passes_with_the_right_verifier_and_a_public_client_needs_it(
    client, container, alice
):
    public = create_client(container, public=True)
    assert public[1] is None
    with_challenge = issue_code(container.app, alice, public[0], challenge=s256(VERIFIER))
    without = issue_code(container.app, alice, public[0])

    assert exchange(client, public, with_challenge, code_verifier=VERIFIER).status_code == 200
    assert refused(exchange(client, public, without)) == (401, 201215, "invalid_grant")
    secret_sent = (public[0], "a secret")
    assert refused(exchange(client, secret_sent, without))[1] == 201208


def test_a_redirect_uri_not_the_codes_answers_201205(client, container, alice, app_):
    code = issue_code(container.app, alice, app_[0])
    assert refused(exchange(client, app_, code, redirect_uri=REDIRECT + "/")) == (
        401,
        201205,
        "invalid_grant",
    )
    assert exchange(client, app_, code).status_code == 200  # the code was not spent


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"client_id": None}, (400, 201210, "invalid_client")),
        ({"client_secret": None}, (400, 201211, "invalid_client")),
        ({"client_id": "123456789012345"}, (400, 201213, "invalid_client")),
        ({"client_id": "abc"}, (400, 201213, "invalid_client")),
        ({"client_secret": "wrong"}, (401, 201208, "invalid_client")),
        ({"grant_type": "client_credentials"}, (400, 201216, "unsupported_grant_type")),
        ({"grant_type": None}, (400, 201216, "invalid_request")),
    ],
)
def test_client_and_grant_type_refusals(client, container, alice, app_, change, code):
    fields = {"grant_type": "authorization_code", "client_id": app_[0], "client_secret": app_[1]}
    fields |= {"code": issue_code(container.app, alice, app_[0]), "redirect_uri": REDIRECT}
    fields |= change
    answer = post(client, **{k: v for k, v in fields.items() if v is not None})
    assert refused(answer) == code
    assert answer.json["error_description"] == answer.json["message"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert ("WWW-Authenticate" in answer.headers) == (code[0] == 401)


def test_http_basic_authenticates_the_client_and_its_failures_answer_401_with_a_challenge(
    client, container, alice, app_
):
    client_id, secret = app_
    code = issue_code(container.app, alice, client_id)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}

    wrong = post(client, headers={"Authorization": basic(client_id, "wrong")}, **form)
    unknown = post(client, headers={"Authorization": basic("123456789012345", secret)}, **form)
    right = post(client, headers={"Authorization": basic(client_id, secret)}, **form)

    for failed, code_ in ((wrong, 201208), (unknown, 201213)):
        assert refused(failed) == (401, code_, "invalid_client")
        assert failed.headers["WWW-Authenticate"] == 'Basic realm="upare"'
    assert right.status_code == 200 and right.json["uid"] == alice


def test_basic_and_body_credentials_must_agree(client, container, alice, app_):
    client_id, secret = app_
    form = {"grant_type": "authorization_code", "redirect_uri": REDIRECT}
    code = issue_code(container.app, alice, client_id)
    other = create_client(container)[0]

    disagreeing = post(
        client,
        headers={"Authorization": basic(client_id, secret)},
        client_id=other,
        code=code,
        **form,
    )
    garbled = post(client, headers={"Authorization": "Basic %%%"}, code=code, **form)
    agreeing = post(
        client,
        headers={"Authorization": basic(client_id, secret)},
        client_id=client_id,
        code=code,
        **form,
    )

    assert refused(disagreeing) == (400, 100004, "invalid_request")
    assert refused(garbled) == (400, 100004, "invalid_request")
    assert "Authorization" in garbled.json["error_description"]
    assert agreeing.status_code == 200


def test_each_refresh_rotates_the_pair_and_a_retired_refresh_token_revokes_the_family(
    client, container, alice, app_
):
    first = exchange(client, app_, issue_code(container.app, alice, app_[0])).json
    second = refresh(client, app_, first["refresh_token"]).json
    assert second["error_code"] == 0 and second["refresh_token"] != first["refresh_token"]
    assert works(client, second["access_token"]) == 0

    assert refused(refresh(client, app_, first["refresh_token"])) == (401, 201209, "invalid_grant")
    assert works(client, second["access_token"]) == 201203
    assert works(client, first["access_token"]) == 201203
    assert refused(refresh(client, app_, second["refresh_token"]))[1] == 201209


@pytest.mark.parametrize(
    "fault", ["garbage", "unknown family", "wrong secret", "another client", "missing"]
)
def test_a_refresh_token_that_is_not_the_familys_answers_201209(
    client, container, alice, app_, fault
):
    pair = exchange(client, app_, issue_code(container.app, alice, app_[0])).json
    token, credentials = pair["refresh_token"], app_
    if fault == "garbage":
        token = "garbage"
    elif fault == "unknown family":
        token = "0" * 32 + "." + token.partition(".")[2]
    elif fault == "wrong secret":
        token = token.partition(".")[0] + ".guess"
    elif fault == "another client":
        credentials = create_client(container)  # type: ignore[assignment]
    elif fault == "missing":
        token = ""
    assert refused(refresh(client, credentials, token)) == (401, 201209, "invalid_grant")
    if fault != "another client":
        assert refresh(client, app_, pair["refresh_token"]).status_code == 200  # no harm done


def test_a_refresh_may_narrow_the_scope_but_not_widen_it(client, container, alice, app_):
    code = issue_code(container.app, alice, app_[0], scopes=("friends", "user_info"))
    pair = exchange(client, app_, code).json
    assert pair["scope"] == "friends user_info"

    narrowed = refresh(client, app_, pair["refresh_token"], scope="friends").json
    widened = refresh(client, app_, narrowed["refresh_token"], scope="calendar")

    assert narrowed["scope"] == "friends"
    assert sessions.read_token(container.cache, narrowed["access_token"])["scopes"] == ["friends"]
    assert refused(widened) == (403, 201206, "invalid_scope")
    again = refresh(client, app_, narrowed["refresh_token"]).json  # the family keeps its scopes
    assert again["scope"] == "friends user_info"


def test_an_idle_family_lapses_after_thirty_days(client, container, alice, app_, now):
    pair = exchange(client, app_, issue_code(container.app, alice, app_[0])).json
    now[0] += timedelta(days=30)
    assert refused(refresh(client, app_, pair["refresh_token"]))[1] == 201209


def test_the_password_grant_issues_a_pair_to_a_client_allowed_it(client, container, alice, app_):
    client_id, secret = app_
    form = {"grant_type": "password", "client_id": client_id, "client_secret": secret}
    answer = post(
        client, **form, username="a@example.com", password="correct horse", scope="friends"
    )
    assert answer.status_code == 200
    assert (answer.json["uid"], answer.json["scope"]) == (alice, "friends")
    assert refresh(client, app_, answer.json["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"username": "alice"}, (400, 201212, "invalid_request")),
        ({"password": "correct horse"}, (400, 201212, "invalid_request")),
        ({"username": "alice", "password": "wrong horse"}, (401, 202103, "invalid_grant")),
        ({"username": "nobody", "password": "correct horse"}, (404, 202001, "invalid_grant")),
        (
            {"username": "alice", "password": "correct horse", "scope": "calendar"},
            (403, 201206, "invalid_scope"),
        ),
    ],
)
def test_password_grant_refusals(client, alice, app_, fields, code):
    form = {"grant_type": "password", "client_id": app_[0], "client_secret": app_[1]}
    assert refused(post(client, **form, **fields)) == code


def test_a_client_not_allowed_the_password_grant_answers_201214(client, container, alice):
    client_id, secret = create_client(container)
    form = {"grant_type": "password", "client_id": client_id, "client_secret": secret}
    answer = post(client, **form, username="alice", password="correct horse")
    assert refused(answer) == (401, 201214, "unauthorized_client")


def test_the_password_grant_is_behind_the_login_lockout(client, alice, app_):
    form = {"grant_type": "password", "client_id": app_[0], "client_secret": app_[1]}
    for _ in range(5):
        assert (
            post(client, **form, username="alice", password="wrong horse").json["error_code"]
            == 202103
        )
    locked = post(client, **form, username="alice", password="correct horse")
    assert refused(locked) == (429, 201204, "invalid_grant")
    assert int(locked.headers["Retry-After"]) > 0


def test_delete_ends_one_token_at_once_and_records_it(client, container, alice, app_):
    code = issue_code(container.app, alice, app_[0])
    pair = exchange(client, app_, code).json
    other = refresh(client, app_, pair["refresh_token"]).json
    token = other["access_token"]

    deleted = post(client, "/api/Oauth/delete", access_token=token)

    assert deleted.status_code == 200 and deleted.json["position"] > 0
    assert works(client, token) == 201203
    stored = container.app.repository.get(code_authorization_id(digest(code)))
    assert digest(token) not in stored.access
    assert post(client, "/api/Oauth/delete", access_token=token).json["error_code"] == 201301
    assert refresh(client, app_, other["refresh_token"]).status_code == 200  # the family stands


def test_delete_takes_a_bearer_token_and_refuses_unknown_and_missing_ones(
    client, container, alice, app_
):
    pair = exchange(client, app_, issue_code(container.app, alice, app_[0])).json
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}

    assert post(client, "/api/Oauth/delete", headers=bearer).json["error_code"] == 0
    assert post(client, "/api/Oauth/delete", access_token="unknown").json["error_code"] == 201301
    assert post(client, "/api/Oauth/delete").json["error_code"] == 201202
    assert post(client, "/api/Oauth/delete", access_token="").json["error_code"] == 201202


def test_revoke_withdraws_the_whole_grant_of_that_user_to_that_client(
    client, container, alice, app_
):
    bob = container.bus.execute(
        RegisterUser(username="bob", password="correct horse", email="b@example.com")
    ).fields["uid"]
    other_app = create_client(container)
    first = exchange(client, app_, issue_code(container.app, alice, app_[0])).json
    second = exchange(client, app_, issue_code(container.app, alice, app_[0])).json
    pending = issue_code(container.app, alice, app_[0])
    elsewhere = exchange(client, other_app, issue_code(container.app, alice, other_app[0])).json
    bobs = exchange(client, app_, issue_code(container.app, bob, app_[0])).json

    answer = post(client, "/api/Oauth/revoke", access_token=first["access_token"])

    assert answer.status_code == 200 and answer.json["position"] > 0
    assert works(client, first["access_token"]) == works(client, second["access_token"]) == 201203
    assert refused(refresh(client, app_, second["refresh_token"]))[1] == 201209
    assert refused(exchange(client, app_, pending))[1] == 201215
    assert works(client, elsewhere["access_token"]) == works(client, bobs["access_token"]) == 0
    assert (
        post(client, "/api/Oauth/revoke", access_token=first["access_token"]).json["error_code"]
        == 201401
    )
    assert post(client, "/api/Oauth/revoke", access_token="unknown").json["error_code"] == 201401
    fresh = exchange(client, app_, issue_code(container.app, alice, app_[0]))
    assert fresh.status_code == 200  # a new authorization after the revocation works


def test_a_password_change_ends_the_users_tokens_refresh_tokens_and_codes(
    client, container, alice, app_
):
    pair = exchange(client, app_, issue_code(container.app, alice, app_[0])).json
    pending = issue_code(container.app, alice, app_[0])

    container.bus.execute(
        ModifyBasicInfo(uid=alice, newpassword="battery staple", confirm="battery staple")
    )

    assert works(client, pair["access_token"]) == 201203
    assert refused(refresh(client, app_, pair["refresh_token"]))[1] == 201209
    assert refused(exchange(client, app_, pending))[1] == 201215


def test_a_deleted_client_can_neither_exchange_nor_refresh(client, container, alice, app_):
    code = issue_code(container.app, alice, app_[0])
    pair = exchange(client, app_, issue_code(container.app, alice, app_[0])).json
    registered = container.app.repository.get(client_aggregate_id(app_[0]))
    registered.delete()
    container.app.save(registered)

    assert refused(exchange(client, app_, code))[1] == 201213
    assert refused(refresh(client, app_, pair["refresh_token"]))[1] == 201213


def test_events_keep_no_token_or_code_in_the_clear(client, container, alice, app_):
    code = issue_code(container.app, alice, app_[0])
    pair = exchange(client, app_, code).json
    refreshed = refresh(client, app_, pair["refresh_token"]).json
    post(client, "/api/Oauth/delete", access_token=refreshed["access_token"])
    stored = repr(
        [item.state for item in container.app.recorder.select_notifications(start=1, limit=1000)]
    )
    secrets_ = (code, pair["access_token"], pair["refresh_token"], refreshed["access_token"])
    for secret in (*secrets_, app_[1]):
        assert secret.encode() not in stored.encode() and secret not in stored
