"""/api/oauth/authorize in process, on SQLite and on PostgreSQL with Redis: every code, the
redirects, and the login and consent pages as a browser gets them."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import falcon
import falcon.testing
import pytest

from api.app import create_app
from commands.clients import CreateClient
from domain.keys import digest
from domain.oauth import client_aggregate_id, code_authorization_id, grant_id
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.credentials import issue_token
from tests.oauth import s256
from upare import captchas, sessions

PASSWORD = "correct horse"
REDIRECT = "https://app.example/callback?from=upare"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
STATE = "xyz &=?#%/ é\u2603"
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@pytest.fixture
def api(container) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(container))


@pytest.fixture
def alice(api) -> int:
    form = {"username": "alice", "password": PASSWORD, "email": "alice@example.com"}
    return api.simulate_post("/api/User/register", params=form).json["uid"]


@pytest.fixture
def sid(container, alice) -> str:
    return sessions.open_session(container.cache, alice)


def new_client(container, name: str = "Demo", **options) -> str:
    command = CreateClient(name=name, redirect_uris=(REDIRECT, "http://127.0.0.1/cb"), **options)
    return container.bus.execute(command).fields["client_id"]


@pytest.fixture
def app_id(container) -> str:
    return new_client(container, scopes=("user_info", "friends"))


def authorize(
    api, client_id: str | None, sid: str | None = None, headers=None, method="POST", **params
):
    """Ask as the given session: a `code` request for REDIRECT with STATE, unless told."""
    query = {"response_type": "code", "redirect_uri": REDIRECT, "state": STATE, **params}
    if client_id is not None:
        query["client_id"] = client_id
    query = {name: value for name, value in query.items() if value is not None}
    cookies = {"sid": sid} if sid else None
    if method == "POST":  # as the pages' forms post
        return api.simulate_request(
            method,
            "/api/oauth/authorize",
            body=urlencode(query),
            cookies=cookies,
            headers={**(headers or {}), "Content-Type": falcon.MEDIA_URLENCODED},
        )
    return api.simulate_request(
        method, "/api/oauth/authorize", params=query, cookies=cookies, headers=headers
    )


def refused(answer, status: int, code: int) -> dict:
    assert (answer.status_code, answer.json["error_code"]) == (status, code), answer.text
    assert "Location" not in answer.headers
    return answer.json


def redirected(answer) -> dict[str, list[str]]:
    """Return the query the answer redirects to REDIRECT with."""
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "&")
    assert answer.headers["Cache-Control"] == "no-store"
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


def a_page(answer, status: int = 200) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    policy = answer.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; img-src 'self'; style-src 'nonce-")
    assert "frame-ancestors 'none'" in policy and "script-src" not in policy
    return answer.text


def csrf(page: str) -> str:
    return TOKEN.search(page).group(1)


def stored(container, code: str):
    return container.app.repository.get(code_authorization_id(digest(code)))


# ---- refusals shown, never redirected


@pytest.mark.parametrize(
    "missing", [{"client_id": None}, {"redirect_uri": None}, {"redirect_uri": ""}]
)
def test_a_request_without_client_id_or_redirect_uri_is_refused(api, app_id, missing):
    request = {"client_id": app_id, **missing}
    refused(authorize(api, **request), 400, 201101)


@pytest.mark.parametrize("response_type", [None, "", "token", "CODE"])
def test_a_response_type_other_than_json_or_code_is_refused(api, app_id, response_type):
    refused(authorize(api, app_id, response_type=response_type), 400, 201102)


def test_an_unknown_or_deleted_client_is_refused(api, container, app_id):
    refused(authorize(api, "100000000000000"), 400, 201103)
    refused(authorize(api, "not-a-client"), 400, 201103)
    client = container.app.repository.get(client_aggregate_id(app_id))
    client.delete()
    container.app.save(client)
    refused(authorize(api, app_id), 400, 201103)


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://app.example/callback", "https://app.example/callback?from=upare&x", "evil"],
)
def test_an_unregistered_redirect_uri_is_refused_not_redirected_to(api, sid, app_id, redirect_uri):
    refused(authorize(api, app_id, sid, redirect_uri=redirect_uri), 400, 201104)
    refused(authorize(api, app_id, sid, redirect_uri=redirect_uri, scope="wat"), 400, 201104)


def test_a_browser_sees_a_refusal_on_a_page_with_the_same_status(api, app_id):
    page = a_page(
        authorize(api, app_id, headers=BROWSER, redirect_uri="https://evil.example/"), 400
    )
    assert "redirect_uri and client_id are not matched" in page and "201104" in page
    assert "evil.example" not in page
    page = a_page(authorize(api, None, headers=BROWSER), 400)
    assert "redirect_uri and client_id are required" in page


# ---- response_type=json


def test_json_without_a_login_is_202101(api, app_id):
    refused(authorize(api, app_id, response_type="json"), 401, 202101)
    refused(authorize(api, app_id, response_type="json", headers=BROWSER), 401, 202101)


def test_json_gives_a_trusted_clients_code_in_the_envelope(api, container, sid, alice):
    client_id = new_client(container, trusted=True)
    answer = authorize(api, client_id, sid, response_type="json", scope="user_info")

    assert (answer.status_code, answer.json["error_code"]) == (200, 0)
    authorization = stored(container, answer.json["authorization_code"])
    assert (authorization.uid, authorization.client_id, authorization.redirect_uri) == (
        alice,
        client_id,
        REDIRECT,
    )


def test_json_needs_consent_with_the_csrf_token_201105_gave(api, container, sid, alice, app_id):
    asked = refused(authorize(api, app_id, sid, response_type="json"), 400, 201105)

    refused(authorize(api, app_id, sid, response_type="json", consent="true"), 403, 403)
    wrong = {"consent": "true", "csrf_token": "0" * 64}
    refused(authorize(api, app_id, sid, response_type="json", **wrong), 403, 403)
    other = sessions.open_session(container.cache, alice)  # the token is this session's only
    approve = {"consent": "true", "csrf_token": asked["csrf_token"]}
    refused(authorize(api, app_id, other, response_type="json", **approve), 403, 403)
    refused(authorize(api, app_id, sid, response_type="json", scope="friends", **approve), 403, 403)

    answer = authorize(api, app_id, sid, response_type="json", **approve)
    assert answer.json["error_code"] == 0
    grant = container.app.repository.get(grant_id(alice, app_id))
    assert grant.scopes == ["friends", "user_info"]
    again = authorize(api, app_id, sid, response_type="json")  # remembered: no consent asked
    assert again.json["error_code"] == 0


def test_json_declined_is_201105(api, sid, app_id):
    refused(authorize(api, app_id, sid, response_type="json", consent="false"), 400, 201105)


def test_json_bad_scope_or_pkce_is_100004_naming_it(api, sid, app_id):
    answer = refused(
        authorize(api, app_id, sid, response_type="json", scope="calendar"), 400, 100004
    )
    assert list(answer["errors"]) == ["scope"]
    plain = {"code_challenge": "a" * 43, "code_challenge_method": "plain"}
    answer = refused(authorize(api, app_id, sid, response_type="json", **plain), 400, 100004)
    assert list(answer["errors"]) == ["code_challenge_method"]


def test_an_access_token_is_no_login_here(api, container, alice, app_id):
    issue_token(container.cache, "tok", alice)
    bearer = {"Authorization": "Bearer tok"}
    refused(authorize(api, app_id, response_type="json", headers=bearer), 403, 201206)
    unknown = {"Authorization": "Bearer nope"}
    refused(authorize(api, app_id, response_type="json", headers=unknown), 401, 201201)


# ---- response_type=code


def test_code_redirects_with_the_code_and_the_state_byte_for_byte(api, container, sid):
    client_id = new_client(container, trusted=True)
    query = redirected(authorize(api, client_id, sid, headers=BROWSER, method="GET"))

    assert query["from"] == ["upare"] and query["state"] == [STATE]
    assert stored(container, query["code"][0]).client_id == client_id


def test_code_without_state_redirects_without_one(api, container, sid):
    client_id = new_client(container, trusted=True)
    assert set(redirected(authorize(api, client_id, sid, state=None))) == {"from", "code"}
    assert redirected(authorize(api, client_id, sid, state=""))["state"] == [""]


def test_code_bad_scope_redirects_invalid_scope(api, sid, app_id):
    query = redirected(authorize(api, app_id, sid, scope="calendar"))
    assert (query["error"], query["state"]) == (["invalid_scope"], [STATE])
    assert "code" not in query


@pytest.mark.parametrize(
    "pkce",
    [
        {"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
        {
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "plain",
        },
        {"code_challenge": "too-short", "code_challenge_method": "S256"},
    ],
)
def test_code_bad_pkce_redirects_invalid_request(api, sid, app_id, pkce):
    assert redirected(authorize(api, app_id, sid, **pkce))["error"] == ["invalid_request"]


def test_a_public_client_without_pkce_is_sent_back_invalid_request(api, container, sid):
    client_id = new_client(container, trusted=True, public=True)
    assert redirected(authorize(api, client_id, sid))["error"] == ["invalid_request"]
    pkce = {
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    code = redirected(authorize(api, client_id, sid, **pkce))["code"][0]
    assert stored(container, code).code_challenge == pkce["code_challenge"]


def test_code_for_a_caller_that_is_not_a_browser_answers_202101_and_201105(api, sid, app_id):
    refused(authorize(api, app_id), 401, 202101)
    assert "csrf_token" in refused(authorize(api, app_id, sid), 400, 201105)


# ---- the consent page


def test_a_browser_is_asked_for_consent_and_approving_redirects_with_a_code(
    api, container, sid, alice, app_id
):
    page = a_page(authorize(api, app_id, sid, headers=BROWSER, method="GET", scope="friends"))
    assert "Demo" in page and "your friends" in page and "Approve" in page and "Decline" in page

    approve = {"scope": "friends", "consent": "true", "csrf_token": csrf(page)}
    query = redirected(authorize(api, app_id, sid, headers=BROWSER, **approve))

    assert query["state"] == [STATE]
    assert stored(container, query["code"][0]).scopes == ["friends"]
    assert container.app.repository.get(grant_id(alice, app_id)).scopes == ["friends"]
    # remembered: the next request for these scopes goes straight back
    assert "code" in redirected(authorize(api, app_id, sid, headers=BROWSER, scope="friends"))


def test_declining_redirects_access_denied_and_remembers_nothing(
    api, container, sid, alice, app_id
):
    page = a_page(authorize(api, app_id, sid, headers=BROWSER))
    query = redirected(
        authorize(api, app_id, sid, headers=BROWSER, consent="false", csrf_token=csrf(page))
    )
    assert (query["error"], query["state"]) == (["access_denied"], [STATE])
    assert not container.app.exists(grant_id(alice, app_id))


def test_approving_without_the_pages_csrf_token_is_refused(api, sid, app_id):
    a_page(authorize(api, app_id, sid, headers=BROWSER, consent="true"), 403)
    page = a_page(authorize(api, app_id, sid, headers=BROWSER, consent="true", csrf_token="x"), 403)
    assert "Unauthorized" in page


def test_a_trusted_client_skips_the_consent_page(api, container, sid):
    client_id = new_client(container, trusted=True)
    assert "code" in redirected(authorize(api, client_id, sid, headers=BROWSER))


def test_the_pages_escape_the_client_name_and_the_state(api, container, sid):
    client_id = new_client(container, name='<script>alert("x")</script>')
    page = a_page(authorize(api, client_id, sid, headers=BROWSER, state='"><img src=x>'))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '"><img' not in page and "&quot;&gt;&lt;img src=x&gt;" in page


def test_the_consent_pages_form_may_post_to_the_redirect_uris_origin(api, sid, app_id):
    answer = authorize(api, app_id, sid, headers=BROWSER)
    assert "form-action 'self' https://app.example;" in answer.headers["Content-Security-Policy"]


# ---- the login page


def login_page(api, app_id: str, **params):
    """Return the login page, the anonymous session it opened, and its CSRF token."""
    answer = authorize(api, app_id, headers=BROWSER, method="GET", **params)
    page = a_page(answer)
    assert 'type="password"' in page and 'src="/api/image/captcha?type=png"' in page
    return page, answer.cookies["sid"].value, csrf(page)


def log_in(api, container, app_id: str, session: str, token: str, captcha: str = "ABCDE", **form):
    captchas.remember(container.cache, digest(session), "default", "ABCDE")
    fields = {"username": "alice", "password": PASSWORD, "captcha": captcha, "csrf_token": token}
    return authorize(api, app_id, session, headers=BROWSER, **{**fields, **form})


def test_a_browser_not_logged_in_gets_the_login_page_then_the_consent_page(
    api, container, alice, app_id
):
    page, anonymous, token = login_page(api, app_id)
    assert "Demo" in page

    answer = log_in(api, container, app_id, anonymous, token, remember="true")

    consent = a_page(answer)
    assert "Approve" in consent
    cookie = answer.cookies["sid"]
    assert cookie.value != anonymous and cookie.max_age == sessions.REMEMBERED
    assert sessions.read_session(container.cache, cookie.value) == {"uid": alice}
    assert sessions.read_session(container.cache, anonymous) is None
    approve = {"consent": "true", "csrf_token": csrf(consent)}
    query = redirected(authorize(api, app_id, cookie.value, headers=BROWSER, **approve))
    assert stored(container, query["code"][0]).uid == alice


def test_a_password_in_the_url_is_never_read(api, container, alice, app_id):
    _, anonymous, token = login_page(api, app_id)
    captchas.remember(container.cache, digest(anonymous), "default", "ABCDE")
    fields = {"username": "alice", "password": PASSWORD, "captcha": "ABCDE", "csrf_token": token}
    answer = authorize(api, app_id, anonymous, headers=BROWSER, method="GET", **fields)
    assert 'type="password"' in a_page(answer)  # the login page again: nobody logged in
    assert sessions.read_session(container.cache, anonymous) == {"uid": None}


def test_logging_in_for_a_trusted_client_goes_straight_back(api, container, alice):
    client_id = new_client(container, trusted=True)
    _, anonymous, token = login_page(api, client_id)
    assert "code" in redirected(log_in(api, container, client_id, anonymous, token))


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"password": "wrong password"}, 401, "Incorrect password"),
        ({"username": "nobody"}, 404, "Account does not exist"),
        ({"captcha": "WRONG"}, 400, "Invalid captcha"),
        ({"password": ""}, 400, "Username and password are required"),
        ({"csrf_token": "f" * 64}, 403, "Unauthorized"),
    ],
)
def test_a_failed_login_shows_the_login_page_again_with_the_documents_message(
    api, container, alice, app_id, form, status, message
):
    _, anonymous, token = login_page(api, app_id)
    page = a_page(log_in(api, container, app_id, anonymous, token, **form), status)
    assert message in page and 'type="password"' in page
    assert sessions.read_session(container.cache, anonymous) == {"uid": None}


def test_a_login_token_is_worth_nothing_for_another_request(api, container, alice, app_id):
    _, anonymous, token = login_page(api, app_id)
    a_page(log_in(api, container, app_id, anonymous, token, state="another"), 403)


def test_a_locked_account_is_told_on_the_login_page_with_retry_after(api, container, alice, app_id):
    for _ in range(5):
        _, anonymous, token = login_page(api, app_id)
        a_page(log_in(api, container, app_id, anonymous, token, password="wrong password"), 401)
    _, anonymous, token = login_page(api, app_id)
    answer = log_in(api, container, app_id, anonymous, token)
    assert "API requests out of rate limit" in a_page(answer, 429)
    assert int(answer.headers["Retry-After"]) > 0


# ---- the code at the token endpoint


def test_an_approved_code_with_pkce_buys_a_token_once(api, container, sid, alice):
    command = CreateClient(name="Demo", redirect_uris=(REDIRECT,), scopes=("user_info",))
    created = container.bus.execute(command).fields
    client_id, secret = created["client_id"], created["client_secret"]
    pkce = {"code_challenge": s256("v" * 43), "code_challenge_method": "S256"}
    page = a_page(authorize(api, client_id, sid, headers=BROWSER, method="GET", **pkce))
    approve = {"consent": "true", "csrf_token": csrf(page), **pkce}
    code = redirected(authorize(api, client_id, sid, headers=BROWSER, **approve))["code"][0]

    exchange = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": secret,
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": "v" * 43,
    }
    answer = api.simulate_post("/api/oauth/accesstoken", params=exchange)
    assert (answer.status_code, answer.json["uid"], answer.json["scope"]) == (
        200,
        alice,
        "user_info",
    )
    assert sessions.read_token(container.cache, answer.json["access_token"])["uid"] == alice
    replayed = api.simulate_post("/api/oauth/accesstoken", params=exchange)
    assert replayed.json["error_code"] == 201215
