"""Verification codes in the cache (upare/codes.py), on the SQLite cache and on Redis."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from domain.errors import UpareError
from upare import codes
from upare.cache import Cache, RedisCache, SqliteCache
from upare.rate_limits import RateLimits
from upare.settings import Settings

UID = 10001
EMAIL = "alice@example.com"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Cache:
    if request.param == "redis":
        # a prefix of this test's own, so its keys in a shared Redis are its own
        return RedisCache(request.getfixturevalue("redis_url"), prefix=f"{uuid.uuid4().hex}:")
    return SqliteCache(tmp_path / "cache.sqlite3")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/db")


def issue(cache: Cache, settings: Settings, medium: str = "email", value: str = EMAIL) -> str:
    return codes.issue(cache, settings, UID, medium, codes.VERIFY, value)


def redeem(cache: Cache, settings: Settings, code: str, medium: str = "email") -> str | None:
    return codes.redeem(cache, settings, UID, medium, codes.VERIFY, code)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_code_is_six_digits_and_redeems_once_for_the_value_it_was_sent_to(cache, settings):
    code = issue(cache, settings)

    assert re.fullmatch(r"[0-9]{6}", code)
    assert redeem(cache, settings, code) == EMAIL
    assert redeem(cache, settings, code) is None


def test_the_cache_keeps_a_keyed_hash_of_the_code_never_the_code(tmp_path, settings):
    cache = SqliteCache(tmp_path / "cache.sqlite3")
    code = issue(cache, settings)
    codes.hold(cache, settings, UID, "email")
    redeem(cache, settings, wrong(code))

    with sqlite3.connect(tmp_path / "cache.sqlite3") as connection:
        rows = connection.execute("SELECT key, value FROM cache").fetchall()
    assert len(rows) == 3  # the code, its tries, the resend interval
    assert not [row for row in rows if code in row[0] or code.encode() in row[1]]
    assert any(EMAIL.encode() in row[1] for row in rows)


def test_five_wrong_tries_use_the_code_up_so_the_right_one_fails_then(cache, settings):
    code = issue(cache, settings)
    for _ in range(codes.TRIES):
        assert redeem(cache, settings, wrong(code)) is None
    assert redeem(cache, settings, code) is None


def test_the_right_code_still_works_after_four_wrong_tries(cache, settings):
    code = issue(cache, settings)
    for _ in range(codes.TRIES - 1):
        assert redeem(cache, settings, wrong(code)) is None
    assert redeem(cache, settings, code) == EMAIL


def test_of_many_racing_tries_at_most_five_are_compared(cache, settings):
    code = issue(cache, settings)
    with ThreadPoolExecutor(8) as pool:
        assert not any(pool.map(lambda _: redeem(cache, settings, wrong(code)), range(20)))
    assert redeem(cache, settings, code) is None  # 20 tries counted: the code is used up


def test_of_racing_right_tries_exactly_one_redeems_the_code(cache, settings):
    code = issue(cache, settings)
    with ThreadPoolExecutor(4) as pool:
        redeemed = list(pool.map(lambda _: redeem(cache, settings, code), range(4)))
    assert redeemed.count(EMAIL) == 1


def test_a_new_code_replaces_the_earlier_one_with_tries_of_its_own(cache, settings):
    first = issue(cache, settings)
    for _ in range(codes.TRIES):
        redeem(cache, settings, wrong(first))
    second = issue(cache, settings)

    if first != second:  # one in a million they are the same
        assert redeem(cache, settings, first) is None
    assert redeem(cache, settings, second) == EMAIL


def test_a_code_is_bound_to_its_user_and_medium(cache, settings):
    code = issue(cache, settings)

    assert redeem(cache, settings, code, medium="phone") is None
    assert codes.redeem(cache, settings, UID + 1, "email", codes.VERIFY, code) is None
    assert redeem(cache, settings, code) == EMAIL  # none of those counted against it


def test_the_resend_interval_is_taken_once_and_tells_the_seconds_left(cache, settings):
    assert codes.hold(cache, settings, UID, "email") is None
    left = codes.hold(cache, settings, UID, "email")
    assert left is not None and 1 <= left <= settings.code_resend_seconds
    assert codes.hold(cache, settings, UID, "phone") is None  # each medium has its own

    codes.release(cache, settings, UID, "email")
    assert codes.hold(cache, settings, UID, "email") is None


def test_the_interval_passes_by_itself(cache, tmp_path):
    brief = Settings(database_url=f"sqlite:///{tmp_path}/db", code_resend_seconds=1)
    assert codes.hold(cache, brief, UID, "email") is None
    assert codes.hold(cache, brief, UID, "email") == 1
    time.sleep(1.05)
    assert codes.hold(cache, brief, UID, "email") is None


def test_racing_sends_pass_the_interval_once(cache, settings):
    with ThreadPoolExecutor(8) as pool:
        held = list(pool.map(lambda _: codes.hold(cache, settings, UID, "email"), range(8)))
    assert held.count(None) == 1


def test_start_send_refuses_inside_the_interval_with_the_seconds_and_retry_after(cache, settings):
    limits = RateLimits(cache)
    key, message = codes.start_send(cache, limits, settings, UID, "email", EMAIL)
    with pytest.raises(UpareError) as refused:
        codes.start_send(cache, limits, settings, UID, "email", EMAIL)

    assert refused.value.code == 202007
    assert refused.value.message == "The sending interval of verification code is 60 seconds"
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    assert key.startswith(f"code:{UID}:email:")
    assert (message.channel, message.to) == ("mail", EMAIL)
    assert re.search(r"\b[0-9]{6}\b", message.body)


def test_the_eleventh_send_to_one_address_in_a_day_is_refused(cache, settings):
    limits = RateLimits(cache)
    eager = Settings(database_url=settings.database_url, code_resend_seconds=0)
    for uid in range(UID, UID + 10):  # ten users sharing one address (it changed hands)
        codes.start_send(cache, limits, eager, uid, "email", EMAIL)
    with pytest.raises(UpareError) as refused:
        codes.start_send(cache, limits, eager, UID + 10, "email", EMAIL.upper())

    assert refused.value.code == 201204
    assert 3600 < int(refused.value.headers["Retry-After"]) <= 24 * 3600
    assert codes.hold(cache, eager, UID + 10, "email") is None  # no timer left for a refusal


def test_a_phone_code_goes_by_sms():
    message = codes.message("phone", "+8613800138000", "012345")
    assert (message.channel, message.to, message.subject) == ("sms", "+8613800138000", "")
    assert "012345" in message.body
