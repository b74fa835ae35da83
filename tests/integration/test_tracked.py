"""Keys kept in the process answer without Redis, and never after Redis changed them."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from upare.cache import RedisCache
from upare.tracked import TrackedKeys

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix():
    return f"test-{uuid.uuid4().hex}:"


@pytest.fixture
def ours(redis_url, prefix):
    """The cache of one process, its reads counted in `ours.reads`."""
    cache = RedisCache(redis_url, prefix)
    cache.reads = []
    read = cache.get_many

    def counted(*keys):
        cache.reads.append(keys)
        return read(*keys)

    cache.get_many = counted
    return cache


@pytest.fixture
def theirs(redis_url, prefix):
    """The cache of another process, on the same keys."""
    return RedisCache(redis_url, prefix)


def test_a_kept_value_answers_again_without_redis(ours, theirs):
    kept = TrackedKeys(ours, ["session:"], max_age=60)
    theirs.set("session:a", b"alice", 60)

    assert [kept.get_many("session:a", "session:none") for _ in range(3)] == [[b"alice", None]] * 3
    assert len(ours.reads) == 1


def test_a_change_on_another_process_is_seen_by_the_next_read(ours, theirs):
    kept = TrackedKeys(ours, ["session:", "ryw:"], max_age=60)
    theirs.set("session:a", b"alice", 60)
    assert kept.get_many("session:a", "ryw:a") == [b"alice", None]

    theirs.raise_to("ryw:a", 42, 60)
    assert kept.get_many("session:a", "ryw:a") == [b"alice", b"42"]
    theirs.delete("session:a")  # a logout
    assert kept.get_many("session:a", "ryw:a") == [None, b"42"]
    theirs.set("session:a", b"again", 60)
    assert kept.get_many("session:a", "ryw:a") == [b"again", b"42"]
    assert len(ours.reads) == 4


def test_a_value_that_changed_while_it_was_read_is_not_kept(ours, theirs):
    kept = TrackedKeys(ours, ["session:"], max_age=60)
    theirs.set("session:a", b"old", 60)
    read = ours.get_many

    def racing(*keys):
        values = read(*keys)
        theirs.set("session:a", b"new", 60)  # changed after Redis answered the read
        time.sleep(0.05)  # its notice comes before the read ends
        return values

    ours.get_many = racing
    assert kept.get_many("session:a") == [b"old"]
    ours.get_many = read

    assert kept.get_many("session:a") == [b"new"]
    assert kept.get_many("session:a") == [b"new"]
    assert len(ours.reads) == 2  # the racing read and the one after it; the last was kept


def test_keys_outside_the_prefixes_are_read_from_redis_every_time(ours, theirs):
    kept = TrackedKeys(ours, ["session:"], max_age=60)
    theirs.set("token:t", b"state", 60)

    assert kept.get_many("token:t") == [b"state"]
    assert kept.get_many("session:a", "token:t") == [None, b"state"]
    assert len(ours.reads) == 2


def test_a_value_is_kept_at_most_its_max_age(ours, theirs):
    kept = TrackedKeys(ours, ["session:"], max_age=0.2)
    theirs.set("session:a", b"alice", 60)
    kept.get_many("session:a")
    time.sleep(0.3)

    assert kept.get_many("session:a") == [b"alice"]
    assert len(ours.reads) == 2


def test_a_lost_tracking_connection_drops_what_was_kept_until_tracking_is_back(ours, theirs):
    kept = TrackedKeys(ours, ["session:"], max_age=60)
    theirs.set("session:a", b"alice", 60)
    kept.get_many("session:a")
    host, port = kept._tracker._sock.getsockname()
    theirs.client.client_kill(f"{host}:{port}")  # as a restart of Redis would
    theirs.set("session:a", b"changed while nobody tracked", 60)

    assert kept.get_many("session:a") == [b"changed while nobody tracked"]
    assert kept.get_many("session:a") == [b"changed while nobody tracked"]
    assert len(ours.reads) == 3  # not kept while not tracking
    time.sleep(1.1)
    kept.get_many("session:a")
    theirs.delete("session:a")
    assert kept.get_many("session:a") == [None]
    assert kept.get_many("session:a") == [None]
    assert len(ours.reads) == 5  # tracking again: the last read was kept


def test_threads_reading_at_once_while_the_value_changes_see_each_change(ours, theirs):
    kept = TrackedKeys(ours, ["session:"], max_age=60)
    theirs.set("session:a", b"0", 60)

    def reads(_: int) -> set[bytes]:
        return {kept.get_many("session:a")[0] for _ in range(500)}

    with ThreadPoolExecutor(8) as pool:
        seen = pool.map(reads, range(16))
        for number in range(1, 6):
            theirs.set("session:a", str(number).encode(), 60)
            time.sleep(0.01)
        assert set().union(*seen) <= {str(number).encode() for number in range(6)}
    assert kept.get_many("session:a") == [b"5"]
