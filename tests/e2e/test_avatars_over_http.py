"""Avatars end to end: a real `upare serve` on SQLite, and on PostgreSQL with Redis."""

from __future__ import annotations

import os
import uuid

import pytest
import requests

from tests import backends
from tests.backends import backend_settings  # noqa: F401 (the settings: both backends)
from tests.credentials import open_session
from tests.pictures import opened, photo_with_gps, picture
from upare.bootstrap import build_cache


@pytest.fixture
def server_env(settings) -> dict[str, str]:
    return backends.server_env(settings)


@pytest.fixture
def alice(server, settings) -> tuple[int, dict[str, str]]:
    """Return the uid of a registered user, seen by the read models, and the cookies of her
    session on the server."""
    answer = requests.post(
        f"{server}/api/User/register",
        data={"username": "alice", "password": "correct horse", "email": "alice@x.io"},
        timeout=10,
    )
    uid, position = answer.json()["uid"], answer.json()["position"]
    seen = requests.get(
        f"{server}/api/User/info", params={"uid": uid, "min_position": position}, timeout=10
    )
    assert "X-Stale" not in seen.headers
    sid = uuid.uuid4().hex  # the Redis server is shared
    open_session(build_cache(settings), sid, uid)  # the very cache the server reads
    return uid, {"sid": sid}


def test_a_photo_is_served_without_its_exif_in_both_sizes(server, alice):
    uid, cookies = alice
    answer = requests.post(
        f"{server}/api/User/setAvatar",
        files={"avatar": ("holiday.jpg", photo_with_gps(), "image/jpeg")},
        cookies=cookies,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    urls = answer.json()["avatar"]
    assert urls["64"] == f"/api/User/avatar?uid={uid}&size=64"

    for size in ("256", "64"):  # the same session: read-your-writes waits for the projection
        served = requests.get(f"{server}{urls[size]}", cookies=cookies, timeout=10)
        assert served.status_code == 200
        assert "X-Stale" not in served.headers
        assert served.headers["Content-Type"] == "image/png"
        image = opened(served.content)
        assert image.size == (int(size), int(size))
        assert not image.getexif()
        assert b"UpareCam" not in served.content


def test_a_refused_upload_stores_nothing_and_answers_as_asked(server, alice, settings):
    uid, cookies = alice
    truncated = {"avatar": ("me.png", picture("PNG", 96, 64)[:300], "image/png")}

    as_json = requests.post(
        f"{server}/api/User/setAvatar", files=truncated, cookies=cookies, timeout=10
    )
    as_code = requests.post(
        f"{server}/api/User/setAvatar",
        files=truncated,
        data={"response_type": "code"},
        cookies=cookies,
        timeout=10,
    )
    nobody = requests.get(f"{server}/api/User/avatar", params={"uid": uid + 1}, timeout=10)
    none_yet = requests.get(f"{server}/api/User/avatar", params={"uid": uid}, timeout=10)

    assert (as_json.status_code, as_json.json()["error_code"]) == (400, 202301)
    assert as_json.json()["message"] == "Fail to upload avatar"
    assert (as_code.status_code, as_code.text) == (400, "202301")
    assert not settings.media_dir.exists() or os.listdir(settings.media_dir) == []
    assert (nobody.status_code, nobody.json()["error_code"]) == (404, 202001)
    assert (none_yet.status_code, none_yet.json()["error_code"]) == (404, 404)
