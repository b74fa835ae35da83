"""Fuzzing the API in process: whatever a client sends, it gets a clear code, never a 5xx.

Every answer must be one the OpenAPI document gives that operation: for its status, a code
the document lists (in the JSON envelope, with the message of domain.errors, or as the bare
code where `response_type=code` was asked), or on success the media type it produces. The
requests come from a logged-in session with the captcha test mode on, so that they reach
past the caller and captcha checks. The resources are read from api.app.RESOURCES when the
tests run, so endpoints added later are fuzzed too.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import falcon
import falcon.testing
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image

from api import app as api_app
from api.captchas import CAPTCHA, CAPTCHA_ID
from api.openapi import build
from api.resource import Resource
from commands.users import RegisterUser
from domain.errors import ERRORS
from tests.credentials import open_session
from tests.pictures import (
    BOUNDARY,
    FORMATS,
    encode,
    multipart,
    noise,
    photo_with_gps,
    png_header,
)
from upare.bootstrap import Container, bootstrap
from upare.captchas import TEST_ANSWER
from upare.media import NAME
from upare.settings import Settings
from workers.store_feed import StoreFeed

FUZZ = hypothesis_settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples every run: a red run is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SID = uuid.uuid4().hex


class Fuzzed:
    """The API wired to embedded stores, with a registered user whose session is `SID`."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.client = falcon.testing.TestClient(api_app.create_app(container))
        self.feed = StoreFeed(container.log, container.db, container.projections)
        self.document = build(api_app.RESOURCES)
        command = RegisterUser(username="fuzzer", password="correct horse", email="f@x.io")
        self.uid = container.bus.execute(command).fields["uid"]

    def request(self, method: str, path: str, **options: Any) -> falcon.testing.Result:
        """Send a request as the logged-in user (the session is opened again each time, since
        a fuzzed logout or password change may end it); project what it stored."""
        open_session(self.container.cache, SID, self.uid)
        headers = {"Cookie": f"sid={SID}", **options.pop("headers", {})}
        answer = self.client.simulate_request(method, path, headers=headers, **options)
        while self.feed.run_once():  # so that read-your-writes never has to wait
            pass
        return answer

    def check(self, resource: type[Resource], method: str, answer: falcon.testing.Result) -> int:
        """Assert the answer is one the document gives the operation; return its code."""
        status = answer.status_code
        assert status < 500, answer.text
        operation = self.document["paths"][resource.path].get(method.lower())
        if operation is None:  # a method the document gives no route: the frame's 405
            assert (status, answer.json["error_code"]) == (405, 200001)
            return 200001
        media_type = (answer.headers.get("content-type") or "").split(";")[0]
        if status == 200 and media_type in resource.produces and media_type != falcon.MEDIA_JSON:
            assert answer.content
            return 0
        documented = documented_codes(operation["responses"][str(status)])
        if media_type == "text/plain":  # response_type=code
            assert answer.text.isdigit() and int(answer.text) in documented, answer.text
            return int(answer.text)
        body = answer.json
        assert media_type == falcon.MEDIA_JSON and isinstance(body, dict), answer.text
        code = body["error_code"]
        assert code in documented, (status, body)
        assert body["api_uri"] == resource.path.strip("/")
        if code != 202007:  # whose message has its seconds filled in
            assert body["message"] in (ERRORS[code][0], resource.messages.get(code)), body
        return code


def documented_codes(response: dict[str, Any]) -> set[int]:
    """Return the codes a documented response may carry."""
    schema = response["content"][falcon.MEDIA_JSON]["schema"]["allOf"][1]["properties"]
    code = schema["error_code"]
    return {code["const"]} if "const" in code else set(code["enum"])


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    folder = tmp_path_factory.mktemp("fuzz")
    settings = Settings(
        data_dir=folder,
        database_url=f"sqlite:///{folder}/db",
        mail_url=f"file://{folder}/mail",
        sms_url=f"file://{folder}/sms",
        captcha_test_mode=True,
    )
    with bootstrap(settings) as container:
        yield Fuzzed(container)


# --- (a) pictures: garbage, truncated, corrupted, oversized ----------------------------------

SAMPLES = [encode(noise(23, 17), fmt, **options) for fmt, options in FORMATS.items()]
TURNED = Image.Exif()
TURNED[0x0112] = 6  # Orientation: so that flipped bytes land in EXIF too
SAMPLES += [photo_with_gps(23, 17), encode(noise(9, 7), "PNG", exif=TURNED.tobytes())]


class Sent(bytes):
    """Bytes that hypothesis reports by their length and start (some are over 5 MiB)."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes: {bytes(self[:48])!r}>"


def pictures() -> st.SearchStrategy[Sent]:
    """Return uploads that may or may not be acceptable pictures."""
    return uploads().map(Sent)


@st.composite
def uploads(draw: st.DrawFn) -> bytes:
    """Return garbage, a sample truncated or with bytes flipped, a header declaring any size,
    any EXIF, a valid picture, or one over 5 MiB."""
    kinds = ["garbage", "truncated", "flipped", "header", "exif", "valid", "big"]
    kind = draw(st.sampled_from(kinds))
    sample = draw(st.sampled_from(SAMPLES))
    if kind == "garbage":
        return draw(st.binary(max_size=512))
    if kind == "truncated":
        return sample[: draw(st.integers(0, len(sample) - 1))]
    if kind == "flipped":
        data = bytearray(sample)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "header":  # a tiny PNG declaring any size, huge ones included
        return png_header(draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**31 - 1)))
    if kind == "exif":  # any EXIF, most of it behind a TIFF header, in a JPEG or a PNG
        exif = draw(st.sampled_from([b"", b"MM\x00*\x00\x00\x00\x08", b"II*\x00\x08\x00\x00\x00"]))
        exif += draw(st.binary(max_size=64))
        fmt, prefix = draw(st.sampled_from([("JPEG", b"Exif\x00\x00"), ("PNG", b"")]))
        return encode(noise(9, 7), fmt, exif=prefix + exif)
    if kind == "big":  # a valid picture padded just past the 5 MiB limit
        return sample + bytes(5 * 1024 * 1024 + 1 - len(sample))
    side = draw(st.integers(1, 40))
    return encode(noise(side, draw(st.integers(1, 40))), draw(st.sampled_from(list(FORMATS))))


def resource_at(path: str) -> type[Resource]:
    return next(resource for resource in api_app.RESOURCES if resource.path == path)


@FUZZ
@given(data=pictures(), response_type=st.sampled_from(["json", "code"]))
def test_any_avatar_upload_answers_a_documented_code_and_keeps_only_the_current_files(
    fuzzed, data, response_type
):
    answer = fuzzed.request(
        "POST",
        "/api/user/setavatar",
        **body_of(*multipart({"response_type": response_type}, {"avatar": data})),
    )
    code = fuzzed.check(resource_at("/api/user/setavatar"), "POST", answer)

    assert code in (0, 202301)
    folder = fuzzed.container.settings.media_dir  # the current avatar's files, nothing else
    stored = os.listdir(folder) if folder.exists() else []
    assert len(stored) == 2 if code == 0 else len(stored) in (0, 2)
    assert all(NAME.fullmatch(name) for name in stored)


@FUZZ
@given(
    data=pictures(),
    fields=st.fixed_dictionaries(
        {},
        optional={
            "key": st.text(max_size=8),
            "block": st.sampled_from(["4", "16", "3", "257", "x", ""]),
            "action": st.sampled_from(["encrypt", "decrypt", "shuffle"]),
            "type": st.sampled_from(["png", "bmp", "jpg"]),
        },
    ),
)
def test_any_picture_to_disorder_answers_an_image_or_a_documented_code(fuzzed, data, fields):
    answer = fuzzed.request(
        "POST", "/api/image/disorder", **body_of(*multipart(fields, {"image": data}))
    )
    assert fuzzed.check(resource_at("/api/image/disorder"), "POST", answer) in (0, 100004)


def body_of(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {"body": body, "headers": headers}


# --- (b) malformed requests against every resource -------------------------------------------

SCALARS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "0", "1", "-1", "10001", "true", TEST_ANSWER, "json", "code", "email"]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
RAW = st.binary(max_size=64)  # invalid UTF-8 included
# values a parameter of this name, or else of this type, may take (10001: the fuzzer's uid)
PLAUSIBLE = {"captcha": (TEST_ANSWER,), "integer": ("10001", "16", "0"), "boolean": ("true", "no")}


@st.composite
def pairs(draw: st.DrawFn, resource: type[Resource]) -> list[tuple[str, Any]]:
    """Return parameters, a name possibly repeated: mostly ones the resource declares, with
    a value it may take now and then, and sometimes any name."""
    declared = [*resource.params, CAPTCHA, CAPTCHA_ID]
    chosen = []
    for _ in range(draw(st.integers(0, 6))):
        param = draw(st.sampled_from(declared) | st.none())
        if param is None:
            chosen.append((draw(st.text(max_size=8)), draw(SCALARS)))
        else:
            plausible = PLAUSIBLE.get(param.name) or PLAUSIBLE.get(param.type, ("",))
            takes = st.sampled_from(param.choices or plausible)
            chosen.append((param.name, draw(takes | SCALARS)))
    if draw(st.booleans()):  # the captcha answered last, so that it wins: past its check
        chosen.append((CAPTCHA.name, TEST_ANSWER))
    return chosen


@st.composite
def requests(draw: st.DrawFn, resource: type[Resource]) -> tuple[str, dict[str, Any]]:
    """Return a method and the options of a malformed (or valid) request to the resource."""
    other = draw(st.integers(0, 3)) == 0
    method = draw(st.sampled_from(["GET", "PUT", "DELETE"])) if other else "POST"
    text = [(name, "" if value is None else str(value)) for name, value in draw(pairs(resource))]
    encoded = [  # now and then raw bytes, invalid UTF-8 included
        (name.encode(), draw(RAW) if draw(st.integers(0, 3)) == 0 else value.encode())
        for name, value in text
    ]
    query = "&".join(
        f"{quote_from_bytes(name)}={quote_from_bytes(value)}" for name, value in encoded
    )
    kind = draw(st.sampled_from(["query", "form", "json", "multipart", "garbage", "wrong type"]))
    options: dict[str, Any] = {"query_string": query} if kind == "query" else {}
    if kind == "form":
        body = query.encode() + (draw(RAW) if draw(st.booleans()) else b"")
        options.update(body=body, headers={"Content-Type": falcon.MEDIA_URLENCODED})
    elif kind == "json":
        value = draw(JSON_VALUES | st.builds(dict, pairs(resource)))
        body = json.dumps(value).encode() if draw(st.booleans()) else draw(RAW)
        options.update(body=body, headers={"Content-Type": falcon.MEDIA_JSON})
    elif kind == "multipart":
        files = [param.name for param in resource.params if param.type == "file"]
        sent = {name: draw(RAW | st.sampled_from(SAMPLES)) for name in files}
        sent.update((name, draw(RAW)) for name, _ in text[: draw(st.integers(0, 2))])
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        options.update(body_of(*multipart(dict(text), sent, content_type)))
    elif kind == "garbage":  # multipart without parts, boundary or sense
        header = draw(st.sampled_from([f"boundary={BOUNDARY}", "boundary=", ""]))
        body = draw(st.sampled_from([b"", f"--{BOUNDARY}\r\n".encode()])) + draw(RAW)
        options.update(body=body, headers={"Content-Type": f"multipart/form-data; {header}"})
    elif kind == "wrong type":
        options.update(body=draw(RAW), headers={"Content-Type": draw(st.sampled_from(OTHERS))})
    return method, options


CONTENT_TYPES = ["application/octet-stream", "text/plain", "text/plain; charset=nope", "image/png"]
OTHERS = ["text/plain", "application/xml", "application/json; charset=latin-1", "x/y", "*/*"]


@pytest.mark.parametrize("resource", api_app.RESOURCES, ids=lambda resource: resource.__name__)
@FUZZ
@given(data=st.data())
def test_a_malformed_request_to_any_resource_answers_a_documented_code(fuzzed, resource, data):
    method, options = data.draw(requests(resource), label="request")
    fuzzed.check(resource, method, fuzzed.request(method, resource.path, **options))
