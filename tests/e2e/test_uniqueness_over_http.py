"""A name is taken the moment its registration is answered, whoever asks and however the
read models are fed: the uniqueness checks ask the write side's claims, as `register` does."""

from __future__ import annotations

import uuid

import pytest
import requests


@pytest.fixture(params=["store feed", pytest.param("kafka", marks=pytest.mark.kafka)])
def server_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "store feed":
        return {}
    token = uuid.uuid4().hex[:10]
    return {
        "UPARE_KAFKA_BOOTSTRAP": request.getfixturevalue("kafka_bootstrap"),
        "UPARE_KAFKA_TOPIC": f"upare.test.{token}",
        "UPARE_KAFKA_GROUP": f"upare-test-{token}",
    }


def post(server: str, path: str, **data: str) -> requests.Response:
    return requests.post(f"{server}/api/User/{path}", data=data, timeout=10)


def test_a_name_just_registered_is_taken_at_once_for_any_client(server):
    for n in range(5):  # no delay between the calls, from a client with no session
        name = f"alice{n}"
        registered = post(
            server, "register", username=name, password="correct horse", email=f"{name}@x.io"
        )
        assert registered.json()["error_code"] == 0
        by_name = post(server, "validateUniqueUsername", username=name.upper())
        by_email = post(server, "validateUniqueEmail", email=f"{name.upper()}@X.IO")
        assert (by_name.status_code, by_name.json()["error_code"]) == (409, 202002)
        assert by_name.json()["message"] == "The username already registered"
        assert (by_email.status_code, by_email.json()["error_code"]) == (409, 202003)


def test_a_free_name_is_free_and_a_malformed_one_is_refused_as_register_would(server):
    free = post(server, "validateUniqueUsername", username="nobody")
    malformed = post(server, "validateUniqueUsername", username="no body")
    bad_email = post(server, "validateUniqueEmail", email="not-an-email")

    assert (free.status_code, free.json()["error_code"]) == (200, 0)
    assert (malformed.status_code, malformed.json()["error_code"]) == (400, 100004)
    assert "username" in malformed.json()["errors"]
    assert (bad_email.status_code, bad_email.json()["error_code"]) == (400, 100004)
