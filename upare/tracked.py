"""Redis values kept in the API process for as long as Redis' client tracking says none changed.

A request with a session cookie reads its session and its caller's last write
(`sessions.read_caller`), and that Redis round trip was most of what the request cost (README,
round nine). `TrackedKeys` keeps what it read. Each process holds one connection on which Redis
broadcasts the name of every key that changes under the kept prefixes (RESP3,
`CLIENT TRACKING ON BCAST PREFIX ...`; Redis 6 or later). Before it answers from what it keeps,
a read takes in every notice that has come, with a poll that does not wait.

- **A logout on another process:** Redis sends its notice in the same turn of its event loop
  as its reply to the writer, so a read that starts after that reply finds the notice waiting.
- **A read racing a change:** its answer is kept only if no notice for its keys came in while
  it read.
- **A lost tracking connection:** everything kept is dropped, and reads go to Redis until a new
  connection tracks again (tried at most once a second).
- **Expiry:** a value is kept at most `max_age` seconds, because Redis announces a key whose
  time to live ran out only when it deletes that key.

redis-py has client-side caching of its own, but it refuses Redis servers older than 7.4
(Debian ships 7.0), and it costs a pooled connection and a deep copy on every command. Here
redis-py's connection and RESP3 parser read the notices.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Sequence
from typing import Any

from upare.cache import RedisCache

log = logging.getLogger(__name__)


class TrackedKeys:
    """`get_many` of a Redis cache; the values of keys under `prefixes` are kept (see above)."""

    def __init__(
        self,
        cache: RedisCache,
        prefixes: Sequence[str],
        max_age: float = 5.0,
        size: int = 100_000,
    ) -> None:
        self.cache = cache
        self.prefixes = tuple((cache.prefix + prefix).encode() for prefix in prefixes)
        self.max_age = max_age
        self.size = size
        self._lock = threading.Lock()
        # full key: (when it was read, its value), or the object of a read in progress
        self._kept: dict[bytes, tuple[float, bytes | None] | object] = {}
        self._tracker: Any = None  # redis-py's Connection, in RESP3
        self._polled: Any = None  # an epoll of its socket: threads may wait on it at once
        self._pid = 0
        self._retry_at = 0.0

    def get_many(self, *keys: str) -> list[bytes | None]:
        names = [(self.cache.prefix + key).encode() for key in keys]
        if not all(name.startswith(self.prefixes) for name in names):
            return self.cache.get_many(*keys)
        now = time.monotonic()
        if self._quiet():  # the usual case: answered without waiting for the lock
            found = self._found(names, now)
            if found is not None:
                return found
        with self._lock:
            if not self._take_notices():
                return self.cache.get_many(*keys)
            found = self._found(names, now)
            if found is not None:
                return found
            reading = object()
            if len(self._kept) + len(names) > self.size:
                self._kept.clear()
            self._kept.update(dict.fromkeys(names, reading))
        values = self.cache.get_many(*keys)
        with self._lock:
            if self._take_notices():
                for name, value in zip(names, values, strict=True):
                    if self._kept.get(name) is reading:  # no notice came for it meanwhile
                        self._kept[name] = (now, value)
        return values

    def _found(self, names: list[bytes], now: float) -> list[bytes | None] | None:
        """Return the values kept of all these keys, or None when one is not kept."""
        found = [self._kept.get(name) for name in names]
        if all(isinstance(entry, tuple) and now - entry[0] < self.max_age for entry in found):
            return [entry[1] for entry in found]  # type: ignore[index]
        return None

    def _quiet(self) -> bool:
        """Tell, without the lock, that every notice that has come was taken in: none waits
        on the socket, and no thread is taking some in (a thread reads the socket only under
        the lock, and takes in all it read before it lets go)."""
        tracking = self._tracker is not None and self._pid == os.getpid()
        return tracking and not self._polled.poll(0) and not self._lock.locked()

    def _take_notices(self) -> bool:
        """Take in the notices that have come (under the lock); False while not tracking."""
        if self._tracker is None or self._pid != os.getpid():
            if time.monotonic() < self._retry_at:
                return False
            self._track()
            if self._tracker is None:
                return False
        if not self._polled.poll(0):  # nothing came (none is left in the parser: see below)
            return True
        try:
            while self._tracker.can_read(0):  # until the parser and the socket are empty
                self._tracker.read_response(push_request=True)
        except self.cache.broken as ex:
            log.warning("lost Redis' tracking of kept keys; reading Redis until back: %r", ex)
            self._lost()
            return False
        return True

    def _track(self) -> None:
        """Open the tracking connection; on failure, try again a second later."""
        self._kept.clear()
        self._pid = os.getpid()
        pool = self.cache.client.connection_pool
        tracker = pool.connection_class(**{**pool.connection_kwargs, "protocol": 3})
        try:
            tracker.connect()
            prefixes = [word for prefix in self.prefixes for word in (b"PREFIX", prefix)]
            tracker.send_command("CLIENT", "TRACKING", "ON", "BCAST", *prefixes)
            tracker.read_response()
        except self.cache.broken as ex:
            log.warning("cannot track kept keys; reading Redis: %r", ex)
            tracker.disconnect()
            self._retry_at = time.monotonic() + 1.0
            return
        tracker._parser.set_invalidation_push_handler(self._forget)
        polled = select.epoll()
        polled.register(tracker._sock, select.EPOLLIN)
        self._polled, self._tracker = polled, tracker  # its epoll first, for `_quiet`

    def _lost(self) -> None:
        tracker, self._tracker = self._tracker, None  # its epoll stays for a racing `_quiet`
        tracker.disconnect()
        self._kept.clear()
        self._retry_at = time.monotonic() + 1.0

    def _forget(self, notice: list[Any]) -> None:
        """Drop the keys of one notice: `[b"invalidate", keys]`, keys None for every key."""
        if notice[1] is None:
            self._kept.clear()
            return
        for name in notice[1]:
            self._kept.pop(name, None)
