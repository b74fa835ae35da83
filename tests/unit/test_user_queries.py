"""The users read model's answers built from its stored JSON (queries/users.py)."""

from __future__ import annotations

from typing import Any

import pytest

from queries import users


class OneRow:
    """A read-model database whose every read answers one row."""

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.row = row

    def fetchone(self, sql: str, params: Any = ()) -> tuple[Any, ...]:
        return self.row


@pytest.mark.parametrize(
    ("stored", "urls"),
    [
        ("{}", None),
        ('{"64": "b.png"}', {"64": "/api/User/avatar?uid=7&size=64"}),
        (
            '{"200": "c.png", "64": "b.png", "1024": "a.png"}',
            {
                "1024": "/api/User/avatar?uid=7&size=1024",
                "200": "/api/User/avatar?uid=7&size=200",
                "64": "/api/User/avatar?uid=7&size=64",
            },
        ),
    ],
)
def test_avatar_urls_list_the_stored_sizes_largest_first_or_none(stored, urls):
    answered = users.avatar_urls(7, stored)
    assert answered == urls
    assert list(answered or {}) == list(urls or {})


@pytest.mark.parametrize(
    ("stored", "details"),
    [("{}", {}), ('{"postalcode": "100871", "qq": "1"}', {"postalcode": "100871", "qq": "1"})],
)
def test_the_own_profile_answers_the_stored_details(stored, details):
    row = (7, "ann", "Ann", "{}", "a@example.com", 1, None, 0, stored)
    profile = users.own_profile(OneRow(row), 7)  # type: ignore[arg-type]
    assert profile is not None
    assert profile["details"] == details
    assert profile["avatar"] is None
