"""The cache on Redis and on the embedded SQLite file behaves the same."""

from __future__ import annotations

import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from limits import RateLimitItemPerMinute

from upare.cache import RedisCache, SqliteCache
from upare.rate_limits import RateLimits


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


def test_add_sets_a_key_only_when_it_is_absent(cache):
    key = f"test:{uuid.uuid4().hex}"
    assert cache.add(key, b"first", ttl_seconds=60)
    assert not cache.add(key, b"second", ttl_seconds=60)
    assert cache.get(key) == b"first"
    assert 59 <= cache.ttl(key) <= 60


def test_take_answers_a_value_once(cache):
    key = f"test:{uuid.uuid4().hex}"
    cache.set(key, b"answer", ttl_seconds=60)
    assert cache.take(key) == b"answer"
    assert cache.take(key) is None
    assert cache.ttl(key) is None


def test_incr_counts_and_its_first_increment_starts_the_keys_life(cache):
    key = f"test:{uuid.uuid4().hex}"
    assert [cache.incr(key, ttl_seconds=1) for _ in range(3)] == [1, 2, 3]
    time.sleep(1.1)
    assert cache.incr(key, ttl_seconds=60) == 1


def test_racing_threads_take_a_value_once_and_count_every_increment(cache):
    key, counter = f"test:{uuid.uuid4().hex}", f"test:{uuid.uuid4().hex}"
    cache.set(key, b"answer", ttl_seconds=60)
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda _: cache.take(key), range(16)))
        counts = list(pool.map(lambda _: cache.incr(counter, 60), range(40)))
    assert taken.count(b"answer") == 1
    assert sorted(counts) == list(range(1, 41))


def test_a_sets_members_expire_one_by_one_and_can_leave(cache):
    key = f"test:{uuid.uuid4().hex}"
    cache.join(key, "short", ttl_seconds=1)
    cache.join(key, "long", ttl_seconds=60)
    cache.join(key, "gone", ttl_seconds=60)
    cache.leave(key, "gone")
    assert cache.members(key) == {"short", "long"}
    time.sleep(1.1)
    assert cache.members(key) == {"long"}


def test_rate_limits_refuse_past_the_limit_and_say_how_long_to_wait(cache):
    limits = RateLimits(cache)
    item, who = RateLimitItemPerMinute(3, 15), uuid.uuid4().hex
    assert [limits.hit(item, who) for _ in range(4)] == [True, True, True, False]
    assert 0 < limits.retry_after(item, who) <= 15 * 60
    assert limits.retry_after(item, "someone else") is None
    limits.clear(item, who)
    assert limits.retry_after(item, who) is None


@pytest.mark.redis
def test_deployments_sharing_one_redis_under_their_own_prefixes_never_meet(redis_url):
    ours = RedisCache(redis_url, prefix=f"test-{uuid.uuid4().hex}:")
    theirs = RedisCache(redis_url, prefix=f"test-{uuid.uuid4().hex}:")
    ours.set("session:same", b"ours", ttl_seconds=60)
    ours.join("sessions:10001", "ours", ttl_seconds=60)
    item = RateLimitItemPerMinute(1, 15)
    RateLimits(ours).hit(item, "127.0.0.1")

    assert theirs.get("session:same") is None
    assert theirs.members("sessions:10001") == frozenset()
    assert RateLimits(theirs).retry_after(item, "127.0.0.1") is None
    assert RateLimits(ours).retry_after(item, "127.0.0.1") is not None
    assert ours.client.get(ours.prefix + "session:same") == b"ours"  # stored under its prefix


def test_get_many_reads_several_keys_at_once_in_their_order(cache):
    first, second, gone = (f"test:{uuid.uuid4().hex}" for _ in range(3))
    cache.set(first, b"one", ttl_seconds=60)
    cache.set(second, b"two", ttl_seconds=60)
    cache.set(gone, b"old", ttl_seconds=0.1)
    time.sleep(0.2)
    assert cache.get_many(second, gone, first) == [b"two", None, b"one"]


def test_counting_two_limits_at_once_keeps_each_in_its_own_window(cache):
    limits = RateLimits(cache)
    tight, loose = RateLimitItemPerMinute(2), RateLimitItemPerMinute(5)
    client, token = (uuid.uuid4().hex,), (uuid.uuid4().hex,)
    waits = [limits.wait((tight, client), (loose, token)) for _ in range(3)]
    assert waits[:2] == [None, None]
    assert waits[2] is not None and 1 <= waits[2] <= 60  # the tight one's window, not forever
    assert limits.retry_after(loose, *token) is None  # 3 of 5
    assert limits.wait((loose, token)) is None
    assert limits.wait((loose, token)) is None
    assert limits.wait((loose, token)) is not None


def test_raise_to_keeps_the_larger_number_and_renews_the_keys_life(cache):
    key = f"test:{uuid.uuid4().hex}"
    cache.raise_to(key, 7, ttl_seconds=60)
    cache.raise_to(key, 3, ttl_seconds=1)  # an earlier write answered late: 7 stays
    assert cache.get(key) == b"7"
    assert cache.ttl(key) <= 1
    cache.raise_to(key, 12, ttl_seconds=60)
    assert cache.get(key) == b"12"


def test_racing_raises_leave_the_largest_number(cache):
    key = f"test:{uuid.uuid4().hex}"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda number: cache.raise_to(key, number, 60), range(200, 0, -1)))
    assert cache.get(key) == b"200"


@pytest.mark.redis
def test_each_thread_keeps_one_redis_connection_of_its_own(redis_url):
    cache = RedisCache(redis_url)

    def ids() -> list[int]:
        return [cache.command("CLIENT", "ID") for _ in range(3)]

    with ThreadPoolExecutor(max_workers=1) as pool:
        theirs = pool.submit(ids).result()
    ours = ids()

    assert len(set(theirs)) == len(set(ours)) == 1
    assert theirs != ours


@pytest.mark.redis
def test_a_threads_redis_connection_that_the_server_closed_is_replaced(redis_url):
    cache = RedisCache(redis_url)
    key = f"test:{uuid.uuid4().hex}"
    cache.set(key, b"value", ttl_seconds=60)
    killed = cache.command("CLIENT", "ID")
    cache.client.client_kill_filter(_id=killed)

    assert cache.get_many(key) == [b"value"]
    assert cache.command("CLIENT", "ID") != killed


@pytest.mark.redis
def test_a_script_redis_does_not_hold_yet_runs_whole_then_by_its_digest(redis_url):
    cache = RedisCache(redis_url)
    source = f"-- {uuid.uuid4().hex}\nreturn {{KEYS[1], ARGV[1]}}"  # a script never loaded
    run = cache.script(source)
    assert cache.command("SCRIPT", "EXISTS", hashlib.sha1(source.encode()).hexdigest()) == [0]  # noqa: S324

    assert run(["key"], [7]) == [b"key", b"7"]
    assert cache.command("SCRIPT", "EXISTS", hashlib.sha1(source.encode()).hexdigest()) == [1]  # noqa: S324
    assert run(["again"], [8]) == [b"again", b"8"]
