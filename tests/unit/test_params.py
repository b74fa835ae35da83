"""One declaration parses, validates and names the code of each parameter (CONTRACT 1-2)."""

from __future__ import annotations

import json

import falcon
import falcon.testing
import pytest

from api.params import ACCESS_TOKEN, RESPONSE_TYPE, Param, parse
from domain.errors import UpareError

REMEMBER = Param("remember", "boolean", default=False)
UID = Param("uid", "integer")
USERNAME = Param("username", required=True, pattern=r"[a-z]{3,8}")


def parsed(query: str = "", *declared: Param, body: dict | None = None) -> dict:
    headers = {"content-type": "application/json"} if body is not None else None
    req = falcon.testing.create_req(
        query_string=query, body=json.dumps(body) if body is not None else None, headers=headers
    )
    return parse(req, declared)


def refusal(query: str = "", *declared: Param, body: dict | None = None) -> UpareError:
    with pytest.raises(UpareError) as refused:
        parsed(query, *declared, body=body)
    return refused.value


@pytest.mark.parametrize("word", ["1", "true", "YES", "on"])
def test_true_words_read_as_true(word):
    assert parsed(f"remember={word}", REMEMBER) == {"remember": True}


@pytest.mark.parametrize("word", ["0", "false", "No", "off"])
def test_false_words_read_as_false(word):
    assert parsed(f"remember={word}", Param("remember", "boolean", default=True)) == {
        "remember": False
    }


def test_an_absent_parameter_takes_its_default():
    assert parsed("", REMEMBER, RESPONSE_TYPE, UID) == {
        "remember": False,
        "response_type": "json",
        "uid": None,
    }


def test_another_word_is_not_a_boolean():
    assert "remember" in refusal("remember=maybe", REMEMBER).errors


def test_a_repeated_parameter_takes_its_last_value():
    assert parsed("uid=1&uid=2", UID) == {"uid": 2}


@pytest.mark.parametrize("value", ["ten", "1.5", " 12", "", "9820753193105431543855169142784"])
def test_an_integer_that_is_not_a_64_bit_one_is_a_validation_failure(value):
    refused = refusal(f"uid={value}", UID)
    assert (refused.code, refused.status, list(refused.errors)) == (100004, 400, ["uid"])


def test_a_json_body_must_carry_the_declared_json_types():
    assert parsed("", UID, body={"uid": 7}) == {"uid": 7}
    assert refusal("", UID, body={"uid": "7"}).errors == {"uid": "must be a JSON integer"}
    assert "username" in refusal("", USERNAME, body={"username": 123}).errors


def test_a_json_string_with_a_lone_surrogate_is_a_validation_failure():
    req = falcon.testing.create_req(
        body='{"email": "a\\ud800@x.io"}', headers={"content-type": "application/json"}
    )
    with pytest.raises(UpareError) as refused:
        parse(req, (Param("email"),))
    assert refused.value.errors == {"email": "must be valid Unicode text"}


def test_body_values_win_over_query_values():
    assert parsed("uid=1", UID, body={"uid": 2}) == {"uid": 2}


def test_every_validation_failure_is_named_in_one_answer():
    refused = refusal("uid=x", UID, USERNAME, Param("email", required=True))
    assert refused.code == 100004
    assert refused.errors == {
        "uid": "must be an integer",
        "username": "is required",
        "email": "is required",
    }


def test_a_parameter_with_its_own_code_answers_it_when_missing_or_empty():
    client_id = Param("client_id", required=True, missing=201101)
    assert refusal("", client_id, UID).code == 201101
    assert refusal("client_id=&uid=x", client_id, UID).code == 201101


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("username=ab", r"must match [a-z]{3,8}"),
        ("username=alice%0A", r"must match [a-z]{3,8}"),
        ("username=alice&response_type=xml", "must be one of json, code"),
    ],
)
def test_patterns_and_choices_are_enforced(query, reason):
    assert list(refusal(query, USERNAME, RESPONSE_TYPE).errors.values()) == [reason]


def test_an_empty_access_token_answers_201202():
    assert refusal("access_token=", ACCESS_TOKEN).code == 201202
    assert parsed("", ACCESS_TOKEN) == {"access_token": None}
