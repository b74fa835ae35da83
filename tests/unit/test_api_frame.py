"""The API frame of CONTRACT sections 1-2: paths, methods, bodies, envelope, errors."""

from __future__ import annotations

import json
import logging
import os
import re

import falcon
import pytest

from api.app import RESOURCES
from api.middleware import IDS
from commands.handlers import Bus
from domain.errors import ERRORS

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/User/validateUniqueUsername",
        "/apis/User/validateUniqueUsername",
        "/api/user/validateuniqueusername/",
        "/APIS/USER/VALIDATEUNIQUEUSERNAME/",
    ],
)
def test_every_spelling_of_a_path_reaches_its_route(client, path):
    result = client.simulate_post(path, body="username=nobody", headers=FORM)
    assert result.status_code == 200
    assert result.json["error_code"] == 0
    assert result.json["api_uri"] == path.strip("/")


def test_a_post_only_endpoint_answers_get_with_200001_and_405(client):
    result = client.simulate_get("/api/User/register")
    assert result.status_code == 405
    assert "POST" in result.headers["Allow"]  # RFC 9110
    assert result.json == {
        "error_code": 200001,
        "api_uri": "api/User/register",
        "message": "POST method required",
    }


def test_an_unknown_route_answers_404_in_the_envelope(client):
    result = client.simulate_get("/api/Nothing/here")
    assert result.status_code == 404
    assert result.json["error_code"] == 404
    assert result.json["message"] == "Not found"


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_stored(client, embedded):
    body = "username=alice&password=correct+horse&email=a@example.com&pad=" + "x" * (9 << 20)
    result = client.simulate_post("/api/User/register", body=body, headers=FORM)
    assert result.status_code == 413
    assert result.json["error_code"] == 100004
    assert embedded.log.head() == 0


@pytest.mark.parametrize("kind", ["form", "json", "multipart"])
def test_register_takes_form_json_and_multipart_bodies(client, kind):
    fields = {"username": "alice", "password": "correct horse", "email": "a@example.com"}
    if kind == "form":
        result = client.simulate_post("/api/User/register", params=fields)
    elif kind == "json":
        result = client.simulate_post("/api/User/register", json=fields)
    else:
        boundary = "upareboundary"
        parts = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        )
        result = client.simulate_post(
            "/api/User/register",
            body=parts + f"--{boundary}--\r\n",
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
    assert result.status_code == 200, result.text
    assert result.json["uid"] == 10001
    assert result.json["position"] > 0


def test_body_values_win_over_query_values(client):
    result = client.simulate_post(
        "/api/User/register",
        query_string="username=fromquery&password=x",
        json={"username": "frombody", "password": "correct horse", "email": "b@example.com"},
    )
    assert result.status_code == 200
    taken = client.simulate_post(
        "/api/User/register",
        json={"username": "FROMBODY", "password": "correct horse", "email": "c@example.com"},
    )
    assert taken.json["error_code"] == 202002


def test_a_malformed_json_body_is_a_validation_failure(client):
    result = client.simulate_post(
        "/api/User/register", body="{not json", headers={"content-type": "application/json"}
    )
    assert result.status_code == 400
    assert result.json["error_code"] == 100004


def test_a_missing_parameter_is_named_in_errors(client):
    result = client.simulate_post("/api/User/register", json={"username": "alice"})
    assert result.status_code == 400
    assert result.json["error_code"] == 100004
    assert result.json["errors"] == {"password": "is required", "email": "is required"}


def test_each_response_carries_a_request_id_and_keeps_a_sane_one_from_the_client(client):
    fresh = client.simulate_get("/api/nothing")
    kept = client.simulate_get("/api/nothing", headers={"X-Request-ID": "abc-123"})
    assert len(fresh.headers["x-request-id"]) == 32
    assert kept.headers["x-request-id"] == "abc-123"


def test_request_ids_differ_between_requests_and_between_forked_workers(client):
    ids = {client.simulate_get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch("[0-9a-f]{32}", one) for one in ids)
    read, write = os.pipe()
    child = os.fork()  # as gunicorn starts its workers
    if child == 0:
        os.write(write, IDS.new().encode())
        os._exit(0)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert theirs[:16] != IDS.new()[:16]  # a prefix of its own: counts may coincide


def test_an_unexpected_failure_answers_100001_and_logs_the_trace_with_the_request_id(
    client, embedded, caplog, monkeypatch
):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Bus, "execute", explode)
    with caplog.at_level(logging.ERROR):
        result = client.simulate_post(
            "/api/User/register",
            json={"username": "alice", "password": "correct horse", "email": "a@example.com"},
            headers={"X-Request-ID": "req-42"},
        )
    assert result.status_code == 500
    assert result.json == {
        "error_code": 100001,
        "api_uri": "api/User/register",
        "message": "Internal error",
    }
    assert "secret internals" not in result.text
    record = next(r for r in caplog.records if r.exc_info)
    assert "secret internals" in str(record.exc_info[1])
    from upare.logs import RequestIdFilter

    RequestIdFilter().filter(record)
    assert record.request_id == "req-42"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0, 200),
        (100004, 400),
        (202101, 401),
        (201206, 403),
        (202001, 404),
        (200001, 405),
        (202002, 409),
        (202007, 429),
        (100001, 500),
        (204104, 502),
        (201207, 503),
    ],
)
def test_codes_carry_the_contracts_http_status(code, status):
    assert ERRORS[code][1] == status


def test_the_openapi_document_describes_every_route(client):
    document = client.simulate_get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    for resource in RESOURCES:
        operations = document["paths"][resource.path]
        assert set(operations) == set(resource.methods())
        uploads = any(param.type == "file" for param in resource.params)
        media = "multipart/form-data" if uploads else "application/json"
        schema = operations["post"]["requestBody"]["content"][media]["schema"]
        assert set(schema["properties"]) == {param.name for param in resource.params}
    json.dumps(document)


def test_every_routed_path_is_in_the_openapi_document(embedded):
    from api.app import create_app

    app = create_app(embedded)
    routed, nodes = set(), list(app._router._roots)
    while nodes:
        node = nodes.pop()
        nodes.extend(node.children or [])
        if node.resource is not None:
            routed.add(node.uri_template)
    document = falcon.testing.TestClient(app).simulate_get("/openapi.json").json
    assert routed - {"/openapi.json"} <= set(document["paths"])


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        ("username=nobody&response_type=code", 200, "0"),
        ("username=alice&response_type=code", 409, "202002"),
        ("username=a&response_type=code", 400, "100004"),
    ],
)
def test_response_type_code_answers_the_bare_code_with_the_same_status(
    client, project, query, status, text
):
    form = {"username": "alice", "password": "correct horse", "email": "a@example.com"}
    client.simulate_post("/api/User/register", params=form)
    project()
    result = client.simulate_post("/api/User/validateUniqueUsername", query_string=query)
    assert (result.status_code, result.text) == (status, text)
    assert result.headers["content-type"].startswith("text/plain")


def test_another_response_type_is_a_validation_failure_in_the_envelope(client):
    result = client.simulate_post(
        "/api/User/validateUniqueUsername", params={"username": "bob", "response_type": "xml"}
    )
    assert (result.status_code, result.json["error_code"]) == (400, 100004)
    assert list(result.json["errors"]) == ["response_type"]


def test_a_uid_beyond_64_bits_is_a_validation_failure_not_a_database_error(client):
    result = client.simulate_get(
        "/api/User/info", params={"uid": "9820753193105431543855169142784"}
    )
    assert (result.status_code, result.json["error_code"]) == (400, 100004)
    assert list(result.json["errors"]) == ["uid"]


def test_the_openapi_document_states_the_rules_and_answers_of_each_parameter(client):
    document = client.simulate_get("/openapi.json").json
    register = document["paths"]["/api/user/register"]["post"]
    body = register["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["username", "password", "email"]
    assert body["properties"]["username"]["pattern"] == "^(?:[A-Za-z0-9_.-]{3,32})$"
    assert body["properties"]["password"]["minLength"] == 8
    assert {"200", "400", "409", "413", "503"} <= set(register["responses"])
    info = document["paths"]["/api/user/info"]["get"]["parameters"]
    uid = next(param["schema"] for param in info if param["name"] == "uid")
    assert (uid["minimum"], uid["maximum"]) == (-(2**63), 2**63 - 1)
    disorder = document["paths"]["/api/image/disorder"]["post"]["requestBody"]
    assert disorder["required"] is True
    assert disorder["content"]["multipart/form-data"]["schema"]["required"] == ["image"]
