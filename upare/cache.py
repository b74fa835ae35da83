"""The short-lived key-value cache (sessions, captchas, code timers, counters): Redis or a SQLite
file, with the same atomic operations on both.

Every key has a time to live. `add` (set if absent), `take` (read and delete at once),
`incr` (count, the first increment starting the key's life) and `raise_to` (keep the larger of
a stored number and a new one) are atomic, so two requests racing for one captcha or one resend
timer cannot both win, nor can a caller's earlier write lower its later one. `join`/`members`
keep a set of members under a key (a user's sessions), each member with its own time to live.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol


class Reads(Protocol):
    """What reads several keys at once: a cache, or the keys it keeps in the process
    (upare/tracked.py)."""

    def get_many(self, *keys: str) -> list[bytes | None]: ...


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

    Single commands and scripts run on a connection of the calling thread's own (`command`),
    as a serving thread keeps its PostgreSQL read connection: redis-py's client, through its
    shared pool, spent about 120 µs of CPU a command on a loaded machine (a lock, a poll of the
    socket, its retry and telemetry wrappers) where the bare connection spent 35. Pipelines
    (`incr`, `join`) go through the client's pool.
    """

    def __init__(self, url: str, prefix: str = "") -> None:
        import redis

        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.broken = (redis.ConnectionError, redis.TimeoutError)
        self.no_script = redis.exceptions.NoScriptError
        self._local = threading.local()
        self._raise_to = self.script(RAISE_TO)

    def command(self, *args: Any) -> Any:
        """Run one command on this thread's connection (opened on its first command) and
        return Redis' reply as it comes (bytes, integers, lists; an error reply raises).

        A connection that broke (the server restarted, or closed it while idle) is dropped
        and the command runs once more on a new one, as redis-py's client retries; a server
        that is down fails that one too.
        """
        connection = getattr(self._local, "connection", None)
        if connection is None:
            pool = self.client.connection_pool
            connection = self._local.connection = pool.connection_class(**pool.connection_kwargs)
        try:
            connection.send_command(*args)
            return connection.read_response()
        except self.broken:
            connection.disconnect()
        connection.send_command(*args)
        return connection.read_response()

    def script(self, source: str) -> Callable[[Sequence[Any], Sequence[Any]], Any]:
        """Return a function running this Lua script with its keys and arguments on the
        calling thread's connection: by its SHA-1, or whole when Redis does not hold it (EVAL
        keeps it for the next time)."""
        sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 (Redis names scripts so)

        def run(keys: Sequence[Any], args: Sequence[Any]) -> Any:
            try:
                return self.command("EVALSHA", sha, len(keys), *keys, *args)
            except self.no_script:
                return self.command("EVAL", source, len(keys), *keys, *args)

        return run

    def get(self, key: str) -> bytes | None:
        return self.command("GET", self.prefix + key)

    def get_many(self, *keys: str) -> list[bytes | None]:
        """Read several keys in one round trip (MGET)."""
        return self.command("MGET", *(self.prefix + key for key in keys))

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self.command("SET", self.prefix + key, value, "PX", _ms(ttl_seconds))

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        return bool(self.command("SET", self.prefix + key, value, "PX", _ms(ttl_seconds), "NX"))

    def take(self, key: str) -> bytes | None:
        return self.command("GETDEL", self.prefix + key)

    def incr(self, key: str, ttl_seconds: float) -> int:
        key = self.prefix + key
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.pexpire(key, _ms(ttl_seconds), nx=True)
        count, _ = pipe.execute()
        return int(count)

    def raise_to(self, key: str, number: int, ttl_seconds: float) -> None:
        """Store `number` unless a larger one is stored, in one round trip (a script)."""
        self._raise_to([self.prefix + key], [number, _ms(ttl_seconds)])

    def ttl(self, key: str) -> float | None:
        left = int(self.command("PTTL", self.prefix + key))
        return None if left < 0 else left / 1000

    def delete(self, *keys: str) -> None:
        if keys:
            self.command("DEL", *(self.prefix + key for key in keys))

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
        found = self.command("ZRANGEBYSCORE", self.prefix + key, time.time(), "+inf")
        return frozenset(member.decode() for member in found)

    def leave(self, key: str, member: str) -> None:
        self.command("ZREM", self.prefix + key, member)

    def ping(self) -> None:
        self.command("PING")


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
