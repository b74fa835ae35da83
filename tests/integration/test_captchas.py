"""Captchas in process (CONTRACT 4): on SQLite, and on PostgreSQL with Redis."""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import replace

import falcon.testing
import pytest
from PIL import Image

from api.app import create_app
from domain.keys import digest
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from upare import captchas, sessions
from upare.bootstrap import bootstrap
from upare.settings import Settings
from workers.store_feed import StoreFeed

ALICE = {"username": "alice", "password": "correct horse", "email": "alice@example.com"}


@pytest.fixture
def container(settings):
    with bootstrap(settings) as wired:
        yield wired


@pytest.fixture
def client(container) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(container))


@pytest.fixture
def drawn(monkeypatch) -> list[str]:
    """Record the answer of every captcha drawn, as the person reading the image would."""
    answers: list[str] = []
    new_answer = captchas.new_answer

    def recorded() -> str:
        answers.append(new_answer())
        return answers[-1]

    monkeypatch.setattr(captchas, "new_answer", recorded)
    return answers


def captcha(client, sid: str | None = None, method: str = "GET", **params):
    cookies = {"sid": sid} if sid else None
    return client.simulate_request(method, "/api/Image/captcha", params=params, cookies=cookies)


def new_session(client, **params) -> str:
    """Return the anonymous session the first captcha makes."""
    return captcha(client, **params).cookies["sid"].value


def verify(client, sid: str | None, answer: str, **params) -> int:
    cookies = {"sid": sid} if sid else None
    params = {"captcha": answer, **params}
    answer = client.simulate_post("/api/Image/captchaVerify", params=params, cookies=cookies)
    assert answer.status_code == (200 if answer.json["error_code"] == 0 else 400)
    return answer.json["error_code"]


@pytest.mark.parametrize(
    ("method", "params", "media_type", "fmt"),
    [
        ("GET", {}, "image/png", "PNG"),
        ("POST", {"type": "png"}, "image/png", "PNG"),
        ("GET", {"type": "jpg"}, "image/jpeg", "JPEG"),
        ("POST", {"type": "bmp", "id": "login"}, "image/bmp", "BMP"),
    ],
)
def test_a_captcha_is_an_image_of_the_type_asked_for(client, method, params, media_type, fmt):
    answer = captcha(client, method=method, **params)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == media_type
    assert answer.headers["cache-control"] == "no-store"
    with Image.open(io.BytesIO(answer.content)) as image:
        assert (image.format, image.size) == (fmt, (160, 60))


@pytest.mark.parametrize(("params", "bad"), [({"type": "gif"}, "type"), ({"id": "x" * 65}, "id")])
def test_an_unknown_type_or_an_overlong_scenario_is_refused(client, params, bad):
    answer = captcha(client, **params)
    assert (answer.status_code, answer.json["error_code"]) == (400, 100004)
    assert list(answer.json["errors"]) == [bad]


def test_the_first_captcha_makes_an_anonymous_session_that_later_ones_keep(client, container):
    first = captcha(client)
    cookie = first.cookies["sid"]
    assert (cookie.max_age, cookie.path, cookie.same_site, cookie.http_only) == (
        86400,
        "/",
        "Lax",
        True,
    )
    assert sessions.read_session(container.cache, cookie.value) == {"uid": None}
    assert "sid" not in captcha(client, cookie.value).cookies


def test_the_right_answer_passes_once_in_any_case(client, drawn):
    sid = new_session(client)
    assert verify(client, sid, drawn[-1].lower()) == 0
    again = client.simulate_get(
        "/api/Image/captchaVerify", params={"captcha": drawn[-1]}, cookies={"sid": sid}
    )
    assert (again.status_code, again.json["error_code"]) == (400, 200002)
    assert again.json["message"] == "Captcha verification failed"


def test_a_wrong_answer_uses_the_captcha_up(client, drawn):
    sid = new_session(client)
    assert verify(client, sid, "WRONG") == 200002
    assert verify(client, sid, drawn[-1]) == 200002


def test_flush_no_leaves_the_captcha_for_the_next_check(client, drawn):
    sid = new_session(client)
    assert verify(client, sid, drawn[-1], flush="no") == 0
    assert verify(client, sid, "WRONG", flush="no") == 200002
    assert verify(client, sid, drawn[-1], flush="no") == 0
    assert verify(client, sid, drawn[-1]) == 0  # flush=yes, the default, uses it up
    assert verify(client, sid, drawn[-1], flush="no") == 200002


def test_a_captcha_passes_only_for_its_own_session_and_scenario(client, drawn):
    mine = new_session(client, id="login")
    theirs = new_session(client)
    mine_answer = drawn[0]

    assert verify(client, theirs, mine_answer) == 200002
    assert verify(client, None, mine_answer) == 200002
    assert verify(client, mine, mine_answer) == 200002  # its scenario is `login`
    assert verify(client, mine, mine_answer, id="login") == 0


def test_a_new_captcha_replaces_the_last_of_its_scenario(client, drawn):
    sid = new_session(client)
    captcha(client, sid)
    assert verify(client, sid, drawn[0], flush="no") == 200002
    assert verify(client, sid, drawn[1]) == 0


def test_a_captcha_expires(client, drawn, monkeypatch):
    monkeypatch.setattr(captchas, "TTL_SECONDS", 1)
    sid = new_session(client)
    time.sleep(1.1)
    assert verify(client, sid, drawn[-1]) == 200002


def test_login_takes_the_captcha_of_its_scenario_once(client, container, drawn):
    client.simulate_post("/api/User/register", params=ALICE)
    StoreFeed(container.log, container.db, container.projections).run_once()
    sid = new_session(client, id="login")
    form = {"username": "alice", "password": "correct horse", "captcha_id": "login"}

    def login(**more):
        return client.simulate_post(
            "/api/User/login", params={**form, **more}, cookies={"sid": sid}
        )

    missing, wrong = login(), login(captcha="WRONG")
    assert (missing.status_code, missing.json["error_code"]) == (400, 200002)
    assert (wrong.json["error_code"], wrong.json["message"]) == (200002, "Invalid captcha")
    captcha(client, sid, id="login")
    assert login(captcha=drawn[-1]).json["error_code"] == 0
    assert login(captcha=drawn[-1]).json["error_code"] == 200002  # used up


@pytest.mark.parametrize(("test_mode", "code"), [(True, 0), (False, 200002)])
def test_passed_passes_in_test_mode_only(container, test_mode, code):
    container.settings = replace(container.settings, captcha_test_mode=test_mode)
    client = falcon.testing.TestClient(create_app(container))
    assert verify(client, None, captchas.TEST_ANSWER) == code
    assert verify(client, new_session(client), captchas.TEST_ANSWER) == code


def test_production_refuses_to_start_in_test_mode():
    production = {"UPARE_ENV": "production", "UPARE_SECRET_KEY": "a real secret"}
    assert Settings.from_env(production).env == "production"
    with pytest.raises(SystemExit, match="UPARE_CAPTCHA_TEST_MODE"):
        Settings.from_env({**production, "UPARE_CAPTCHA_TEST_MODE": "1"})


def test_the_answer_is_never_in_a_response_a_header_a_log_or_the_cache(
    client, container, drawn, caplog
):
    caplog.set_level(logging.DEBUG)
    first = captcha(client)
    sid = first.cookies["sid"].value
    answers = [first, captcha(client, sid, type="jpg"), captcha(client, sid, type="bmp")]
    stored = container.cache.get(f"captcha:{digest(sid)}:default")
    verify(client, sid, "WRONG")

    for answer, secret in zip(answers, drawn, strict=True):
        assert secret.encode() not in answer.content
        assert secret.lower().encode() not in answer.content
        assert all(secret not in value for value in answer.headers.values())
    assert stored == hashlib.sha256(drawn[-1].lower().encode()).hexdigest().encode()
    assert not any(secret in caplog.text for secret in drawn)
