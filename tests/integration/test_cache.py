"""The cache on Redis and on the embedded SQLite file behaves the same."""

from __future__ import annotations

import time
import uuid

import pytest

from upare.cache import RedisCache, SqliteCache


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request, tmp_path):
    if request.param == "redis":
        return RedisCache(request.getfixturevalue("redis_url"))
    return SqliteCache(tmp_path / "cache.sqlite3")


def test_a_value_is_kept_until_it_expires(cache):
    key = f"test:{uuid.uuid4().hex}"
    cache.set(key, b"value", ttl_seconds=1)
    assert cache.get(key) == b"value"
    time.sleep(1.1)
    assert cache.get(key) is None


def test_a_deleted_value_is_gone(cache):
    key = f"test:{uuid.uuid4().hex}"
    cache.set(key, b"value", ttl_seconds=60)
    cache.delete(key)
    assert cache.get(key) is None
    cache.ping()
