"""Captchas against a real `upare serve`: on SQLite, and on PostgreSQL with Redis.

A test cannot read the distorted image; it plays the person who does by writing a known answer
over the drawn one in the server's own cache, for the session the server gave it.
"""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from domain.keys import digest
from tests import backends
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from upare import captchas
from upare.bootstrap import build_cache
from upare.cache import Cache
from upare.settings import Settings

ANSWER = "K7M3P"


@pytest.fixture
def server_env(settings: Settings) -> dict[str, str]:
    return backends.server_env(settings)


@pytest.fixture
def cache(settings: Settings) -> Cache:
    """The server's cache: its SQLite file in the data dir, or Redis under its prefix."""
    return build_cache(settings)


def read_captcha(server: str, cache: Cache, browser: requests.Session, scenario: str) -> None:
    """Ask for a captcha and 'read' it: its answer becomes ANSWER."""
    browser.get(f"{server}/api/Image/captcha", params={"id": scenario}, timeout=10)
    key = f"captcha:{digest(browser.cookies['sid'])}:{scenario}"
    assert 290 <= (cache.ttl(key) or 0) <= 300  # the drawn answer, bound to this session
    captchas.remember(cache, digest(browser.cookies["sid"]), scenario, ANSWER)


def verify(server: str, browser: requests.Session, **params: str) -> int:
    answer = browser.post(f"{server}/api/Image/captchaVerify", data=params, timeout=10)
    return answer.json()["error_code"]


def test_captchas_are_images_of_the_type_asked_for_on_one_anonymous_session(server):
    with requests.Session() as browser:
        first = browser.get(f"{server}/api/Image/captcha", timeout=10)
        assert first.headers["Content-Type"] == "image/png"
        assert first.headers["Cache-Control"] == "no-store"
        assert {"HttpOnly", "Max-Age=86400", "Path=/", "SameSite=Lax"} <= set(
            first.headers["Set-Cookie"].split("; ")
        )
        for fmt, media_type in (("jpg", "image/jpeg"), ("bmp", "image/bmp"), ("png", "image/png")):
            answer = browser.post(f"{server}/api/Image/captcha", data={"type": fmt}, timeout=10)
            assert answer.headers["Content-Type"] == media_type
            assert "Set-Cookie" not in answer.headers  # the session made by the first one
            with Image.open(io.BytesIO(answer.content)) as image:
                assert image.format == {"jpg": "JPEG"}.get(fmt, fmt.upper())


def test_an_answer_passes_once_for_its_own_session_unless_not_flushed(server, cache):
    with requests.Session() as mine, requests.Session() as theirs:
        read_captcha(server, cache, mine, "default")
        theirs.get(f"{server}/api/Image/captcha", timeout=10)

        assert verify(server, theirs, captcha=ANSWER) == 200002
        assert verify(server, mine, captcha=ANSWER.lower(), flush="no") == 0
        assert verify(server, mine, captcha=ANSWER) == 0
        refused = mine.get(f"{server}/api/Image/captchaVerify", params={"captcha": ANSWER})
        assert (refused.status_code, refused.json()["message"]) == (
            400,
            "Captcha verification failed",
        )


def test_login_takes_a_real_captcha_of_its_scenario(server, cache):
    form = {"username": "alice", "password": "correct horse", "email": "alice@example.com"}
    requests.post(f"{server}/api/User/register", data=form, timeout=10).raise_for_status()
    with requests.Session() as browser:
        read_captcha(server, cache, browser, "login")
        login = {**form, "captcha": ANSWER, "captcha_id": "login"}
        del login["email"]
        passed = browser.post(f"{server}/api/User/login", data=login, timeout=10)
        assert passed.json()["error_code"] == 0
        again = browser.post(f"{server}/api/User/login", data=login, timeout=10).json()
        assert (again["error_code"], again["message"]) == (200002, "Invalid captcha")
        assert verify(server, browser, captcha="PASSED") == 200002  # no test mode here
