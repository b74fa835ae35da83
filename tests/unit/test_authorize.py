"""Issuing authorization codes: given a user and a client, when IssueCode, then the
Authorization the token endpoint will find (in memory); and the pages' CSP sources."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.pages import origin, policy
from commands.application import WriteApplication
from commands.authorize import IssueCode
from commands.clients import CreateClient
from commands.users import RegisterUser
from domain.errors import UpareError
from domain.keys import digest
from domain.oauth import CODE_SECONDS, Grant, code_authorization_id, grant_id, password_stamp
from domain.users import user_id
from tests.oauth import s256
from tests.unit import wiring

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REDIRECT = "https://app.example/callback?from=upare"
CHALLENGE = s256("verifier" * 8)


@pytest.fixture
def store() -> WriteApplication:
    return WriteApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def bus(store, tmp_path):
    return wiring.bus(store, tmp_path, clock=lambda: NOW)


@pytest.fixture
def uid(bus) -> int:
    command = RegisterUser(username="alice", password="correct horse", email="alice@x.io")
    return bus.execute(command).fields["uid"]


def new_client(bus, **options) -> str:
    command = CreateClient(name="Demo", redirect_uris=(REDIRECT,), **options)
    return bus.execute(command).fields["client_id"]


def issue(bus, uid: int, client_id: str, **request):
    command = IssueCode(uid=uid, client_id=client_id, redirect_uri=REDIRECT, **request)
    return bus.execute(command).fields["authorization_code"]


def refused(bus, uid: int, client_id: str, **request) -> UpareError:
    with pytest.raises(UpareError) as raised:
        bus.execute(
            IssueCode(uid=uid, client_id=client_id, **{"redirect_uri": REDIRECT, **request})
        )
    return raised.value


def test_a_code_is_stored_as_its_digest_with_everything_it_is_bound_to(store, bus, uid):
    client_id = new_client(bus, scopes=("user_info", "friends"))
    code = issue(
        bus,
        uid,
        client_id,
        scope="friends",
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
        consent=True,
    )

    authorization = store.repository.get(code_authorization_id(digest(code)))
    assert (authorization.uid, authorization.client_id) == (uid, client_id)
    assert (authorization.scopes, authorization.redirect_uri) == (["friends"], REDIRECT)
    assert authorization.code_digest == digest(code) and code not in repr(authorization.__dict__)
    assert authorization.code_expires_at == NOW.timestamp() + CODE_SECONDS
    assert authorization.code_challenge == CHALLENGE
    user = store.repository.get(user_id(uid))
    assert authorization.password_stamp == password_stamp(user.password_hash)
    assert (authorization.epoch, authorization.redeemed, authorization.revoked) == (0, False, False)


def test_each_code_is_new(bus, uid):
    client_id = new_client(bus, trusted=True)
    codes = {issue(bus, uid, client_id) for _ in range(3)}
    assert len(codes) == 3 and all(len(code) >= 43 for code in codes)


def test_a_consent_is_remembered_in_the_users_grant_so_it_is_not_asked_again(store, bus, uid):
    client_id = new_client(bus, scopes=("user_info", "friends", "calendar"))
    assert refused(bus, uid, client_id, scope="friends").code == 201105

    issue(bus, uid, client_id, scope="friends,user_info", consent=True)

    assert store.repository.get(grant_id(uid, client_id)).scopes == ["friends", "user_info"]
    issue(bus, uid, client_id, scope="friends")  # covered: no consent asked
    assert refused(bus, uid, client_id, scope="calendar").code == 201105


def test_a_trusted_client_needs_no_consent(bus, uid):
    client_id = new_client(bus, trusted=True)
    assert issue(bus, uid, client_id)


def test_a_code_carries_the_epoch_of_a_grant_withdrawn_before(store, bus, uid):
    client_id = new_client(bus)
    issue(bus, uid, client_id, consent=True)
    grant: Grant = store.repository.get(grant_id(uid, client_id))
    grant.withdraw()
    store.save(grant)

    assert refused(bus, uid, client_id).code == 201105  # the consent went with the grant
    code = issue(bus, uid, client_id, consent=True)
    assert store.repository.get(code_authorization_id(digest(code))).epoch == 1


@pytest.mark.parametrize(
    ("client_id", "code"),
    [("", 201103), ("123", 201103), ("100000000000000", 201103), ("x" * 15, 201103)],
)
def test_an_unknown_client_is_refused(bus, uid, client_id, code):
    assert refused(bus, uid, client_id).code == code


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example/callback",
        "https://app.example/callback?from=upare&x=1",
        "https://APP.example/callback?from=upare",
        "https://app.example/callback/?from=upare",
        "https://app.example:443/callback?from=upare",
        "http://app.example/callback?from=upare",
        "https://app.example/callback?from=upare#x",
        "https://app.example/%63allback?from=upare",
    ],
)
def test_a_redirect_uri_not_registered_byte_for_byte_is_refused(bus, uid, redirect_uri):
    client_id = new_client(bus, trusted=True)
    assert refused(bus, uid, client_id, redirect_uri=redirect_uri).code == 201104


@pytest.mark.parametrize(
    ("scope", "reason"),
    [("calendar", "scope"), ("user_info,wat", "scope"), ("all", "scope")],
)
def test_scopes_not_the_clients_are_refused(bus, uid, scope, reason):
    client_id = new_client(bus, trusted=True, scopes=("user_info", "friends"))
    error = refused(bus, uid, client_id, scope=scope)
    assert (error.code, list(error.errors or {})) == (100004, [reason])


def test_a_client_with_scope_all_may_be_asked_for_any(bus, uid):
    client_id = new_client(bus, trusted=True, scopes=("all",))
    assert issue(bus, uid, client_id, scope="calendar messages")


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        ({"code_challenge": CHALLENGE}, "code_challenge_method"),  # missing: plain
        (
            {"code_challenge": CHALLENGE, "code_challenge_method": "plain"},
            "code_challenge_method",
        ),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "code_challenge"),
        (
            {"code_challenge": CHALLENGE + "=", "code_challenge_method": "S256"},
            "code_challenge",
        ),
        ({"code_challenge_method": "S256"}, "code_challenge"),
    ],
)
def test_pkce_is_s256_only(bus, uid, request_, reason):
    client_id = new_client(bus, trusted=True)
    error = refused(bus, uid, client_id, **request_)
    assert (error.code, list(error.errors or {})) == (100004, [reason])


def test_a_public_client_must_send_a_challenge(bus, uid):
    client_id = new_client(bus, trusted=True, public=True)
    error = refused(bus, uid, client_id)
    assert (error.code, list(error.errors or {})) == (100004, ["code_challenge"])
    assert issue(bus, uid, client_id, code_challenge=CHALLENGE, code_challenge_method="S256")


@pytest.mark.parametrize(
    ("uri", "source"),
    [
        ("https://app.example/cb?x=1", "https://app.example"),
        ("http://127.0.0.1:8123/cb", "http://127.0.0.1:8123"),
        ("http://user:pw@App.Example:80/cb", "http://app.example:80"),
        ("http://[::1]:9/cb", "http://[::1]:9"),
        ("com.example.app:/oauth", "com.example.app:"),
        ("http://bad;host'/cb", "http:"),
        ("http://host:99999/cb", "http:"),
    ],
)
def test_a_page_may_post_to_its_redirect_uris_origin_only(uri, source):
    assert origin(uri) == source
    assert f"form-action 'self' {source};" in policy("n", uri)
