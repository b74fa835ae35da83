"""A third-party app, as its developers would write it: registered with `upare clients create`,
pointed at the issuer's discovery document alone, and running the authorization-code flow with
PKCE through Authlib's OAuth 2.0 client, against a real `upare serve` on SQLite and on
PostgreSQL with Redis. The user's part (log in, approve) is a browser's; here it is requests
with the user's session cookie (tests/e2e/test_oauth_browser.py has the real browser)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from tests import backends
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.e2e.conftest import UPARE
from upare.settings import Settings

REDIRECT = "https://app.example.com/callback"
ALICE = {"username": "alice", "password": "correct horse", "email": "alice@example.com"}


@pytest.fixture
def server_env(settings: Settings) -> dict[str, str]:
    return {**backends.server_env(settings), "UPARE_CAPTCHA_TEST_MODE": "1"}


def create_client(settings: Settings, server_env: dict[str, str], *flags: str) -> dict:
    env = {
        **os.environ,
        "UPARE_DATA_DIR": str(settings.data_dir),
        "UPARE_DATABASE_URL": settings.database_url,
        **server_env,
    }
    done = subprocess.run(
        [
            UPARE,
            "clients",
            "create",
            "--name",
            "Calendar Sync",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "user_info,calendar",
            "--json",
            *flags,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def logged_in_user(server: str) -> requests.Session:
    browser = requests.Session()
    registered = requests.post(f"{server}/api/User/register", data=ALICE, timeout=10).json()
    # the app's token did not write alice's account: wait until the users read model has it
    wanted = {"uid": registered["uid"], "min_position": registered["position"]}
    seen = requests.post(f"{server}/api/User/info", data=wanted, timeout=10)
    assert seen.json()["error_code"] == 0 and "X-Stale" not in seen.headers, seen.text
    form = {"username": "alice", "password": "correct horse", "captcha": "PASSED"}
    assert browser.post(f"{server}/api/User/login", data=form, timeout=10).json()["error_code"] == 0
    return browser


def approve(browser: requests.Session, url: str) -> str:
    """Do what the user does in the browser: open the authorization URL, approve the consent
    page if there is one, and return the redirect the server answered with."""
    page = browser.get(url, headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    if page.status_code == 200:  # the consent page: post its form with the approve button
        form = re.search(r'<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>', page.text, re.S)
        assert form, page.text
        fields = {
            unescape(name): unescape(value)
            for name, value in re.findall(
                r'<input[^>]*name="([^"]*)"[^>]*value="([^"]*)"', form.group(2)
            )
        }
        button = re.search(
            r'<button[^>]*name="([^"]*)"[^>]*value="([^"]*)"[^>]*>\s*Approve', form.group(2)
        )
        if button:
            fields[unescape(button.group(1))] = unescape(button.group(2))
        action = requests.compat.urljoin(url, unescape(form.group(1)))
        page = browser.post(action, data=fields, allow_redirects=False, timeout=10)
    assert page.status_code == 302, (page.status_code, page.text[:500])
    return page.headers["Location"]


@dataclass
class App:
    """A third-party app's view of one run of the flow: its session, the issuer's metadata,
    the PKCE verifier, the state it sent and the redirect it got back."""

    session: OAuth2Session
    meta: dict
    verifier: str
    state: str
    location: str

    def fetch_token(self) -> dict:
        return self.session.fetch_token(
            self.meta["token_endpoint"],
            authorization_response=self.location,
            code_verifier=self.verifier,
        )


def authorized(server: str, settings: Settings, server_env: dict[str, str], scope: str) -> App:
    """Register an app from the CLI, point it at the issuer, and let alice approve it."""
    app = create_client(settings, server_env)
    meta = requests.get(f"{server}/.well-known/oauth-authorization-server", timeout=10).json()
    session = OAuth2Session(
        app["client_id"],
        app["client_secret"],
        scope=scope,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    return App(session, meta, verifier, state, approve(logged_in_user(server), url))


def test_an_app_runs_the_code_flow_with_pkce_refreshes_and_calls_the_api(
    server, settings, server_env
):
    app = authorized(server, settings, server_env, "user_info calendar")
    assert "S256" in app.meta["code_challenge_methods_supported"]
    assert app.location.startswith(REDIRECT + "?")
    assert parse_qs(urlsplit(app.location).query)["state"] == [app.state]

    token = app.fetch_token()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    assert set(token["scope"].split()) == {"user_info", "calendar"}

    info = app.session.post(f"{server}/api/User/info", timeout=10).json()
    assert info["error_code"] == 0 and info["user"]["username"] == "alice"

    renewed = app.session.refresh_token(app.meta["token_endpoint"])
    assert renewed["access_token"] != token["access_token"]
    assert renewed["refresh_token"] != token["refresh_token"]
    assert app.session.post(f"{server}/api/User/info", timeout=10).json()["error_code"] == 0


def test_the_same_code_taken_twice_by_the_library_fails_the_second_time(
    server, settings, server_env
):
    app = authorized(server, settings, server_env, "user_info")
    first = app.fetch_token()
    with pytest.raises(OAuthError) as second:
        app.fetch_token()
    assert "invalid_grant" in str(second.value)
    replayed = requests.post(
        f"{server}/api/User/info",
        headers={"Authorization": f"Bearer {first['access_token']}"},
        timeout=10,
    ).json()
    assert replayed["error_code"] == 201203  # the replay revoked what the code had given
