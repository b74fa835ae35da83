"""The date-time parameter type: ISO 8601 with an offset or Unix seconds, read as UTC text, and
documented as exactly what it accepts."""

from __future__ import annotations

import re

import pytest

from api.openapi import param_schema
from api.params import Param

START = Param("start", "date-time")


@pytest.mark.parametrize(
    ("sent", "typed", "read"),
    [
        ("2026-12-01T09:30:00+08:00", False, "2026-12-01T01:30:00+00:00"),
        ("2026-12-01T09:30Z", False, "2026-12-01T09:30:00+00:00"),
        ("2026-12-01T09:30:00.999-01:30", False, "2026-12-01T11:00:00+00:00"),
        ("2024-02-29T00:00:00Z", False, "2024-02-29T00:00:00+00:00"),
        ("1796117400", False, "2026-12-01T09:30:00+00:00"),
        (1796117400, True, "2026-12-01T09:30:00+00:00"),
        ("", False, ""),
    ],
)
def test_a_time_reads_as_utc_to_the_second(sent, typed, read):
    assert START.read(sent, typed) == read


@pytest.mark.parametrize(
    ("sent", "typed", "reason"),
    [
        ("2026-12-01T09:30:00", False, "needs its offset"),
        ("2026-04-31T09:30:00Z", False, "must be ISO 8601"),
        ("2025-02-29T09:30:00Z", False, "must be ISO 8601"),
        ("1796117400", True, "must be ISO 8601"),  # a JSON string is no number
        (True, True, "must be ISO 8601 text or Unix seconds"),
        ("99999999999999", False, "must be Unix seconds from"),
    ],
)
def test_a_bad_time_is_refused_saying_why(sent, typed, reason):
    with pytest.raises(ValueError, match=reason):
        START.read(sent, typed)


def test_a_time_that_may_not_be_empty_is_refused_empty():
    with pytest.raises(ValueError):
        Param("start", "date-time", min_length=1).read("", False)


def test_the_document_gives_the_time_pattern_and_the_seconds_bounds():
    text, seconds = param_schema(START)["oneOf"]
    assert re.fullmatch(text["pattern"], "2026-12-01T09:30:00+08:00")
    assert re.fullmatch(text["pattern"], "")  # optional: empty is no time
    assert not re.fullmatch(text["pattern"], "2026-12-01T09:30:00")
    assert (seconds["type"], seconds["minimum"] < 0 < seconds["maximum"]) == ("integer", True)
    required = param_schema(Param("start", "date-time", required=True))["oneOf"][0]
    assert not re.fullmatch(required["pattern"], "")
