"""setAvatar and User/avatar in process, on SQLite and on PostgreSQL with Redis."""

from __future__ import annotations

import os
import uuid

import falcon.testing
import pytest
from eventsourcing.persistence import IntegrityError

from api.app import create_app
from commands.users import RegisterUser
from tests.backends import backend_settings  # noqa: F401 (the settings: both backends)
from tests.credentials import open_session
from tests.pictures import FORMATS, multipart, opened, photo_with_gps, picture, png_header
from workers.store_feed import StoreFeed

MiB = 1024 * 1024


@pytest.fixture
def client(container) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(container))


@pytest.fixture
def project(container):
    feed = StoreFeed(container.log, container.db, container.projections)

    def run() -> None:
        while feed.run_once():
            pass

    return run


@pytest.fixture
def alice(container, project) -> tuple[int, str]:
    """Return the uid of a registered, projected user and the id of her session."""
    command = RegisterUser(username="alice", password="correct horse", email="alice@x.io")
    uid = container.bus.execute(command).fields["uid"]
    project()
    sid = uuid.uuid4().hex  # the Redis server is shared
    open_session(container.cache, sid, uid)
    return uid, sid


def upload(client, sid: str | None, files=None, fields=None, **options) -> falcon.testing.Result:
    body, headers = multipart(fields, files, **options)
    cookies = {"sid": sid} if sid else None
    return client.simulate_post("/api/User/setAvatar", body=body, headers=headers, cookies=cookies)


def media_files(container) -> list[str]:
    """Return every file in the media folder, temporary ones included."""
    folder = container.settings.media_dir
    return sorted(os.listdir(folder)) if folder.exists() else []


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_is_accepted_and_served_in_both_sizes(client, container, project, alice, fmt):
    uid, sid = alice
    answer = upload(client, sid, {"avatar": picture(fmt, 120, 80)})

    assert answer.status_code == 200, answer.text
    assert answer.json["avatar"] == {
        "256": f"/api/User/avatar?uid={uid}&size=256",
        "64": f"/api/User/avatar?uid={uid}&size=64",
    }
    assert answer.json["position"] > 0
    project()
    for size, url in answer.json["avatar"].items():
        served = client.simulate_get(url)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png"
        assert served.headers["cache-control"] == "public, no-cache"
        assert opened(served.content).size == (int(size), int(size))
    assert len(media_files(container)) == 2


def test_exif_with_gps_does_not_survive(client, project, alice):
    uid, sid = alice
    assert upload(client, sid, {"avatar": photo_with_gps()}).status_code == 200
    project()

    for size in ("256", "64"):
        served = client.simulate_get("/api/User/avatar", params={"uid": uid, "size": size})
        assert not opened(served.content).getexif()
        assert b"UpareCam" not in served.content and b"Exif" not in served.content


@pytest.mark.parametrize(
    ("files", "fields", "code", "reason"),
    [
        ({"avatar": b"BM" + bytes(5 * MiB)}, {}, 202301, "must be at most 5242880 bytes"),
        ({"avatar": png_header(4097, 16)}, {}, 202301, "must be at most 4096x4096 pixels"),
        ({"avatar": png_header(60000, 60000)}, {}, 202301, "must be at most 4096x4096 pixels"),
        ({"avatar": picture("JPEG", 96, 64)[:400]}, {}, 202301, "is truncated or corrupt"),
        ({"avatar": b"%PDF-1.7"}, {}, 202301, "must be a PNG, JPEG, GIF, BMP or WebP image"),
        ({"avatar": b""}, {}, 202301, "is empty"),
        ({"picture": picture()}, {}, 100004, "is required"),
        ({}, {"avatar": "me.png"}, 100004, "must be a file"),
    ],
    ids=[
        "over 5 MiB",
        "over 4096 pixels",
        "decompression bomb",
        "truncated",
        "not an image",
        "empty file",
        "no avatar part",
        "text, not a file",
    ],
)
def test_an_unacceptable_upload_is_refused_and_nothing_is_stored(
    client, container, alice, files, fields, code, reason
):
    head = container.log.head()
    answer = upload(client, alice[1], files, fields)

    assert (answer.status_code, answer.json["error_code"]) == (400, code)
    assert answer.json["errors"] == {"avatar": reason}
    assert media_files(container) == []
    assert container.log.head() == head


def test_response_type_code_answers_the_bare_code(client, alice):
    sid = alice[1]
    cases = [
        (sid, {"avatar": picture()}, (200, "0")),
        (sid, {"avatar": b"not an image"}, (400, "202301")),
        (None, {"avatar": picture()}, (401, "202101")),
    ]
    for session, files, expected in cases:
        answer = upload(client, session, files, {"response_type": "code"})
        assert (answer.status_code, answer.text) == expected
        assert answer.headers["content-type"].startswith("text/plain")


def test_setting_an_avatar_needs_someone_logged_in(client, container, alice):
    answer = upload(client, None, {"avatar": picture()})
    assert (answer.status_code, answer.json["error_code"]) == (401, 202101)
    assert media_files(container) == []


def test_a_new_avatar_replaces_the_old_one_and_its_files(client, container, project, alice):
    uid, sid = alice
    upload(client, sid, {"avatar": picture("PNG")})
    project()
    first = client.simulate_get("/api/User/avatar", params={"uid": uid})

    upload(client, sid, {"avatar": picture("GIF", 30, 30)})
    project()
    second = client.simulate_get("/api/User/avatar", params={"uid": uid})

    assert second.headers["etag"] != first.headers["etag"]
    assert second.content != first.content
    assert len(media_files(container)) == 2
    assert first.headers["etag"].strip('"') not in media_files(container)


def test_a_conflicting_write_leaves_only_the_files_of_the_attempt_stored(
    client, container, alice, monkeypatch
):
    save = container.app.save
    attempts = []

    def conflict_once(*aggregates):
        attempts.append(media_files(container))
        if len(attempts) == 1:
            raise IntegrityError("another writer saved this version first")
        return save(*aggregates)

    monkeypatch.setattr(container.app, "save", conflict_once)
    answer = upload(client, alice[1], {"avatar": picture()})

    assert answer.status_code == 200
    assert len(attempts) == 2 and not set(attempts[0]) & set(attempts[1])
    assert media_files(container) == attempts[1]


def test_an_event_that_cannot_be_stored_leaves_no_file(client, container, alice, monkeypatch):
    def never(*aggregates):
        raise IntegrityError("always someone faster")

    monkeypatch.setattr(container.app, "save", never)
    answer = upload(client, alice[1], {"avatar": picture()})

    assert (answer.status_code, answer.json["error_code"]) == (500, 100001)
    assert media_files(container) == []


def test_an_avatar_is_fetched_by_get_or_post_and_revalidated_by_its_etag(client, project, alice):
    uid, sid = alice
    upload(client, sid, {"avatar": picture()})
    project()

    by_get = client.simulate_get("/api/User/avatar", params={"uid": uid})
    by_post = client.simulate_post("/api/User/avatar", params={"uid": uid, "size": "256"})
    again = client.simulate_get(
        "/api/User/avatar", params={"uid": uid}, headers={"If-None-Match": by_get.headers["etag"]}
    )

    assert opened(by_get.content).size == (256, 256)
    assert by_post.content == by_get.content
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == by_get.headers["etag"]


def test_fetching_answers_its_codes(client, container, project, alice):
    uid, sid = alice

    def fetch(**params) -> tuple[int, int]:
        answer = client.simulate_get("/api/User/avatar", params=params)
        return answer.status_code, answer.json["error_code"]

    assert fetch(uid=99999) == (404, 202001)
    assert fetch(uid=uid) == (404, 404)  # no avatar yet
    assert fetch(uid=uid, size="128") == (400, 100004)
    assert fetch() == (400, 100004)
    assert fetch(uid="alice") == (400, 100004)

    upload(client, sid, {"avatar": picture()})
    project()
    for name in media_files(container):  # gone, as just after a replacement
        (container.settings.media_dir / name).unlink()
    assert fetch(uid=uid, size="64") == (404, 404)
