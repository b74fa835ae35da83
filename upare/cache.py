"""The short-lived key-value cache (sessions, captchas, code timers, counters): Redis or a SQLite
file, with the same atomic operations on both.

Every key has a time to live. `add` (set if absent), `take` (read and delete at once),
`incr` (count, the first increment starting the key's life) and `raise_to` (keep the larger of
a stored number and a new one) are atomic, so two requests racing for one captcha or one resend
timer cannot both win, nor can a caller's earlier write lower its later one. `join`/`members`
keep a set of members under a key (a user's sessions), each member with its own time to live.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol


class Cache(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def get_many(self, *keys: str) -> list[bytes | None]: ...
    def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...
    def add(self, key: str, value: bytes, ttl_seconds: float) -> bool: ...
    def take(self, key: str) -> bytes | None: ...
    def incr(self, key: str, ttl_seconds: float) -> int: ...
    def raise_to(self, key: str, number: int, ttl_seconds: float) -> None: ...
    def ttl(self, key: str) -> float | None: ...
    def delete(self, *keys: str) -> None: ...
    def forget(self, *keys: str) -> None: ...
    def join(self, key: str, member: str, ttl_seconds: float) -> None: ...
    def members(self, key: str) -> frozenset[str]: ...
    def leave(self, key: str, member: str) -> None: ...
    def ping(self) -> None: ...


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


# KEYS[1]: the number's key; ARGV: the new number, the time to live in ms. The stored number
# stays when it is larger; either way the key lives on for the time to live.
RAISE_TO = """
local stored = tonumber(redis.call('GET', KEYS[1]))
if stored and stored >= tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
"""


class RedisCache:
    """The cache in Redis; a set's members expire by their score (the time they end).

    Every key is stored under `prefix`, so that deployments (or test servers) sharing one
    Redis server never read each other's keys: a uid or an address is the same in each.
    """

    def __init__(self, url: str, prefix: str = "") -> None:
        import redis

        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._raise_to = self.client.register_script(RAISE_TO)

    def get(self, key: str) -> bytes | None:
        return self.client.get(self.prefix + key)  # type: ignore[return-value]

    def get_many(self, *keys: str) -> list[bytes | None]:
        """Read several keys in one round trip (MGET)."""
        return self.client.mget([self.prefix + key for key in keys])  # type: ignore[return-value]

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self.client.set(self.prefix + key, value, px=_ms(ttl_seconds))

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        return bool(self.client.set(self.prefix + key, value, px=_ms(ttl_seconds), nx=True))

    def take(self, key: str) -> bytes | None:
        return self.client.getdel(self.prefix + key)  # type: ignore[return-value]

    def incr(self, key: str, ttl_seconds: float) -> int:
        key = self.prefix + key
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.pexpire(key, _ms(ttl_seconds), nx=True)
        count, _ = pipe.execute()
        return int(count)

    def raise_to(self, key: str, number: int, ttl_seconds: float) -> None:
        """Store `number` unless a larger one is stored, in one round trip (a script)."""
        self._raise_to(keys=[self.prefix + key], args=[number, _ms(ttl_seconds)])

    def ttl(self, key: str) -> float | None:
        left = int(self.client.pttl(self.prefix + key))  # type: ignore[arg-type]
        return None if left < 0 else left / 1000

    def delete(self, *keys: str) -> None:
        if keys:
            self.client.delete(*(self.prefix + key for key in keys))

    def forget(self, *keys: str) -> None:
        """Delete these keys for good (an erasure): in Redis, the same as `delete`."""
        self.delete(*keys)

    def join(self, key: str, member: str, ttl_seconds: float) -> None:
        key, now = self.prefix + key, time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {member: now + ttl_seconds})
        pipe.expire(key, int(ttl_seconds) + 1, gt=True)
        pipe.expire(key, int(ttl_seconds) + 1, nx=True)
        pipe.execute()

    def members(self, key: str) -> frozenset[str]:
        found = self.client.zrangebyscore(self.prefix + key, time.time(), "+inf")
        return frozenset(member.decode() for member in found)  # type: ignore[union-attr]

    def leave(self, key: str, member: str) -> None:
        self.client.zrem(self.prefix + key, member)

    def ping(self) -> None:
        self.client.ping()


class SqliteCache:
    """The cache in a SQLite file, for the embedded default; expired keys read as missing.

    Each change runs in an immediate transaction (one writer at a time), which makes the
    read-then-write operations atomic across the server's processes.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()
        with self._write() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS cache"
                " (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL)"
            )
            connection.execute(
                "CREATE TABLE IF NOT EXISTS cache_sets (key TEXT NOT NULL, member TEXT NOT NULL,"
                " expires REAL NOT NULL, PRIMARY KEY (key, member))"
            )

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            # no fsync a commit: a crash of the machine may lose the last few changes, never
            # the file; a cache can afford that, and a login would spend ~10 ms on fsyncs
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA secure_delete=ON")  # a deleted value leaves no bytes
            self._local.connection = connection
        return connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _live(self, connection: sqlite3.Connection, key: str) -> tuple[bytes, float] | None:
        row = connection.execute(
            "SELECT value, expires FROM cache WHERE key = ? AND expires > ?", (key, time.time())
        ).fetchone()
        return None if row is None else (bytes(row[0]), float(row[1]))

    def _put(self, connection: sqlite3.Connection, key: str, value: bytes, expires: float) -> None:
        connection.execute(
            "INSERT INTO cache (key, value, expires) VALUES (?, ?, ?) ON CONFLICT (key)"
            " DO UPDATE SET value = excluded.value, expires = excluded.expires",
            (key, value, expires),
        )

    def get(self, key: str) -> bytes | None:
        found = self._live(self._connection(), key)
        return None if found is None else found[0]

    def get_many(self, *keys: str) -> list[bytes | None]:
        return [self.get(key) for key in keys]

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        with self._write() as connection:
            self._put(connection, key, value, time.time() + ttl_seconds)
            connection.execute("DELETE FROM cache WHERE expires <= ?", (time.time(),))

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        with self._write() as connection:
            if self._live(connection, key) is not None:
                return False
            self._put(connection, key, value, time.time() + ttl_seconds)
            return True

    def take(self, key: str) -> bytes | None:
        with self._write() as connection:
            found = self._live(connection, key)
            connection.execute("DELETE FROM cache WHERE key = ?", (key,))
            return None if found is None else found[0]

    def incr(self, key: str, ttl_seconds: float) -> int:
        with self._write() as connection:
            found = self._live(connection, key)
            count = 1 if found is None else int(found[0]) + 1
            expires = time.time() + ttl_seconds if found is None else found[1]
            self._put(connection, key, str(count).encode(), expires)
            return count

    def raise_to(self, key: str, number: int, ttl_seconds: float) -> None:
        with self._write() as connection:
            found = self._live(connection, key)
            kept = number if found is None else max(number, int(found[0]))
            self._put(connection, key, str(kept).encode(), time.time() + ttl_seconds)

    def ttl(self, key: str) -> float | None:
        found = self._live(self._connection(), key)
        return None if found is None else max(0.0, found[1] - time.time())

    def delete(self, *keys: str) -> None:
        with self._write() as connection:
            connection.executemany("DELETE FROM cache WHERE key = ?", [(key,) for key in keys])

    def forget(self, *keys: str) -> None:
        """Delete these keys and every copy of them on disk (an erasure): the deleted cells
        are zeroed (`secure_delete`) and the write-ahead log, which still holds the pages as
        they were, is checkpointed and truncated."""
        self.delete(*keys)
        self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def join(self, key: str, member: str, ttl_seconds: float) -> None:
        with self._write() as connection:
            connection.execute("DELETE FROM cache_sets WHERE expires <= ?", (time.time(),))
            connection.execute(
                "INSERT INTO cache_sets (key, member, expires) VALUES (?, ?, ?)"
                " ON CONFLICT (key, member) DO UPDATE SET expires = excluded.expires",
                (key, member, time.time() + ttl_seconds),
            )

    def members(self, key: str) -> frozenset[str]:
        rows = self._connection().execute(
            "SELECT member FROM cache_sets WHERE key = ? AND expires > ?", (key, time.time())
        )
        return frozenset(str(row[0]) for row in rows)

    def leave(self, key: str, member: str) -> None:
        with self._write() as connection:
            connection.execute("DELETE FROM cache_sets WHERE key = ? AND member = ?", (key, member))

    def ping(self) -> None:
        self._connection().execute("SELECT 1")
