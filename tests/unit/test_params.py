"""Reading parameters as CONTRACT section 1 says: booleans, integers, repeated values."""

from __future__ import annotations

import falcon
import falcon.testing
import pytest

from api.params import Params
from domain.errors import UpareError


def params_of(query: str) -> Params:
    return Params(falcon.testing.create_req(query_string=query))


@pytest.mark.parametrize("word", ["1", "true", "YES", "on"])
def test_true_words_read_as_true(word):
    assert params_of(f"remember={word}").boolean("remember") is True


@pytest.mark.parametrize("word", ["0", "false", "No", "off"])
def test_false_words_read_as_false(word):
    assert params_of(f"remember={word}").boolean("remember", default=True) is False


def test_a_missing_boolean_takes_its_default():
    assert params_of("").boolean("remember", default=True) is True


def test_another_word_is_not_a_boolean():
    with pytest.raises(UpareError) as refused:
        params_of("remember=maybe").boolean("remember")
    assert refused.value.code == 100004 and "remember" in refused.value.errors


def test_a_repeated_parameter_takes_its_last_value():
    assert params_of("uid=1&uid=2").integer("uid") == 2


def test_an_integer_that_is_not_one_is_refused():
    with pytest.raises(UpareError) as refused:
        params_of("uid=ten").integer("uid")
    assert refused.value.errors == {"uid": "must be an integer"}
