"""Token requests counted by leased units: never past a limit, few round trips to Redis."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from limits import parse

from upare.cache import RedisCache
from upare.rate_limits import Leases, RateLimits

pytestmark = pytest.mark.redis


def process(redis_url: str, prefix: str, size: int = 100_000) -> Leases:
    """The leases of one API process; its round trips to Redis counted in `.trips`."""
    leases = Leases(RateLimits(RedisCache(redis_url, prefix)), size)
    leases.trips = 0
    lease = leases.lease

    def counted(keys, args):
        leases.trips += 1
        return lease(keys, args)

    leases.lease = counted
    return leases


def window(leases: Leases, limit, identity: str = "t") -> tuple:
    return limit, identity.join(leases.around(limit, "oauth-token"))


def test_processes_racing_never_pass_more_than_the_limit_and_seldom_ask_redis(redis_url):
    prefix, limit = f"test-{uuid.uuid4().hex}:", parse("1000/minute")
    processes = [process(redis_url, prefix) for _ in range(2)]

    def requests(leases: Leases) -> int:
        passed = 0
        while leases.wait(window(leases, limit)) is None:
            passed += 1
        return passed

    with ThreadPoolExecutor(8) as pool:
        passed = sum(pool.map(requests, processes * 4))

    assert 1000 - 2 * 64 <= passed <= 1000  # at most each process's last lease unspent
    assert sum(leases.trips for leases in processes) < passed / 10


def test_a_small_limit_is_counted_request_by_request(redis_url):
    prefix, limit = f"test-{uuid.uuid4().hex}:", parse("3/minute")
    ours, theirs = process(redis_url, prefix), process(redis_url, prefix)
    hit = window(ours, limit)

    assert [ours.wait(hit), theirs.wait(hit), ours.wait(hit)] == [None] * 3
    assert 59 <= theirs.wait(hit) <= 60
    assert ours.trips + theirs.trips == 4


def test_units_held_end_with_their_window(redis_url):
    leases = process(redis_url, f"test-{uuid.uuid4().hex}:")
    hit = window(leases, parse("1000/second"))
    for _ in range(3):  # the second lease takes 62 units
        assert leases.wait(hit) is None
    assert leases.trips == 2
    time.sleep(1.1)
    trips = leases.trips
    assert leases.wait(hit) is None
    assert leases.trips == trips + 1  # a new window: its first unit asked of Redis


def test_the_windows_held_stay_few_however_many_tokens_come_and_go(redis_url):
    leases = process(redis_url, f"test-{uuid.uuid4().hex}:", size=10)
    limit = parse("1000/second")
    for number in range(30):
        assert leases.wait(window(leases, limit, f"t{number}")) is None
        time.sleep(0.04)  # a window ends every 25 tokens
    assert len(leases._held) <= 10
