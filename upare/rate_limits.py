"""Rate limits (failed logins, code sends, OAuth token use) with the `limits` library's fixed
windows.

On Redis they use `limits`' own Redis storage, under the cache's prefix; on the embedded
default, `CacheStorage` keeps `limits`' counters in the SQLite cache (its `incr` is atomic
across processes). On Redis, token requests are counted by leases of units (`Leases`), in
`limits`' own keys, so that `limits` tells their wait and clears them.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute, parse
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from upare.cache import Cache, RedisCache

LOGIN_FAILURES = RateLimitItemPerMinute(5, 15)  # per account and per client address
CODE_SENDS = RateLimitItemPerDay(10)  # per medium (an address or a number)
# Lease units of fixed windows (`Leases`): add ARGV[2i - 1] to the count of KEYS[i],
# whose window (ARGV[2i] seconds) starts at its first count; reply each count and the
# milliseconds left of its window.
LEASE = """
local reply = {}
for i, key in ipairs(KEYS) do
    reply[2 * i - 1] = redis.call('INCRBY', key, ARGV[2 * i - 1])
    redis.call('EXPIRE', key, ARGV[2 * i], 'NX')
    reply[2 * i] = redis.call('PTTL', key)
end
return reply
"""
MARK = "\0"  # where a window's key takes its identifier (`Leases.around`)
MOST_LEASED = 64  # units a process may take of a window at once (`Leases`)


class CacheStorage(Storage):
    """`limits` storage over Upare's cache (the embedded SQLite one)."""

    STORAGE_SCHEME = ["upare-cache"]

    def __init__(self, cache: Cache) -> None:
        super().__init__()
        self.cache = cache

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        count = 0
        for _ in range(amount):
            count = self.cache.incr(key, expiry)
        return count

    def get(self, key: str) -> int:
        return int(self.cache.get(key) or 0)

    def get_expiry(self, key: str) -> float:
        return time.time() + (self.cache.ttl(key) or 0)

    def check(self) -> bool:
        self.cache.ping()
        return True

    def reset(self) -> int | None:
        return None  # the cache holds more than limits: never clear it wholesale

    def clear(self, key: str) -> None:
        self.cache.delete(key)


class RateLimits:
    """Count events against limits and tell how long a caller over a limit must wait."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.redis = cache if isinstance(cache, RedisCache) else None
        storage: Storage = CacheStorage(cache)
        if self.redis is not None:
            storage = RedisStorage(self.redis.url, key_prefix=self.redis.prefix + "LIMITS")
        self.limiter = FixedWindowRateLimiter(storage)

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one event; False when it went over the limit."""
        return self.limiter.hit(item, *identifiers)

    def retry_after(self, item: RateLimitItem, *identifiers: str) -> int | None:
        """Return the seconds until the window passes when the limit is used up, else None."""
        if self.limiter.test(item, *identifiers):
            return None
        reset = self.limiter.get_window_stats(item, *identifiers).reset_time
        return max(1, math.ceil(reset - time.time()))

    def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        self.limiter.clear(item, *identifiers)

    def wait(self, *hits: tuple[RateLimitItem, tuple[str, ...]]) -> int | None:
        """Count one event against each (limit, identifiers) as `FixedWindowRateLimiter.hit`
        does (the same keys; the window starts at the first count); return the seconds until
        every limit it went over allows again, or None when it went over none. (On Redis,
        token requests are counted by `Leases` instead.)"""
        storage = self.limiter.storage
        over = [
            (item, ids)
            for item, ids in hits
            if storage.incr(item.key_for(*ids), item.get_expiry()) > item.amount
        ]
        waits = [self.retry_after(item, *ids) or 1 for item, ids in over]
        return max(waits) if waits else None


class Leases:
    """Count events against fixed windows on Redis, taking units ahead (`wait`).

    A count on Redis cost a round trip for each token request: most of its cost (README,
    round nine). Instead a process takes a lease of units from a window's count (`LEASE`) and
    spends them in memory, one for each event, until they run out or the window ends. So Redis's
    count runs ahead of the events:
    - a window never lets more events through than its limit;
    - it may refuse early, by the units that other processes hold unspent.
    The first lease in a window is 1 unit. Each later lease is a sixteenth of what the window
    had left at the last one, at most `MOST_LEASED`. A small limit, or one nearly reached, is
    therefore counted one event at a time, as exactly as before.
    """

    def __init__(self, limits: RateLimits, size: int = 100_000) -> None:
        assert limits.redis is not None and isinstance(limits.limiter.storage, RedisStorage)
        self.storage = limits.limiter.storage
        self.lease = limits.redis.script(LEASE)
        self.size = size
        self._lock = threading.Lock()
        # a window's key: (units held, when its window ends on time.monotonic, the next lease)
        self._held: dict[str, tuple[int, float, int]] = {}

    def around(self, item: RateLimitItem, name: str) -> tuple[str, str]:
        """Return what comes before and after the identifier in the key of this limit's
        window for `name`, as `limits` makes it: the key, without building it every event."""
        before, _, after = self.storage.prefixed_key(item.key_for(name, MARK)).partition(MARK)
        return before, after

    def wait(self, *windows: tuple[RateLimitItem, str]) -> int | None:
        """Count one event against each (limit, its window's key), as `RateLimits.wait`
        does; return the seconds until every window it went over allows again, or None."""
        now = time.monotonic()
        wanted = []  # (limit, key, units) of the windows without a unit held
        with self._lock:
            if len(self._held) >= self.size:  # forget the windows that ended; else all
                self._held = {key: held for key, held in self._held.items() if held[1] > now}
                if len(self._held) >= self.size:
                    self._held.clear()  # the units held are lost: windows refuse early
            for item, key in windows:
                units, ends, lease = self._held.get(key, (0, now, 1))
                if units and ends > now:
                    self._held[key] = (units - 1, ends, lease)
                else:
                    wanted.append((item, key, lease if ends > now else 1))
        if not wanted:
            return None
        args = [arg for item, _, units in wanted for arg in (units, item.get_expiry())]
        reply = self.lease([key for _, key, _ in wanted], args)
        waits = []
        with self._lock:
            for (item, key, units), count, left_ms in zip(
                wanted, reply[::2], reply[1::2], strict=True
            ):
                granted = min(units, max(0, item.amount - (count - units)))
                ends = now + left_ms / 1000
                lease = max(1, min(MOST_LEASED, (item.amount - count) // 16))
                if granted:
                    held, held_ends, _ = self._held.get(key, (0, ends, lease))
                    self._held[key] = (granted - 1 + (held if held_ends > now else 0), ends, lease)
                else:
                    waits.append(max(1, math.ceil(left_ms / 1000)))
        return max(waits) if waits else None


class TokenRates:
    """The request rates of OAuth token callers: per client and per access token
    (UPARE_OAUTH_CLIENT_RATE, UPARE_OAUTH_TOKEN_RATE, in `limits`' notation)."""

    def __init__(self, limits: RateLimits, client_rate: str, token_rate: str) -> None:
        self.limits = limits
        self.per_client = parse(client_rate)
        self.per_token = parse(token_rate)
        self.leases = None
        if limits.redis is not None:
            self.leases = Leases(limits)
            self.windows = (
                self.leases.around(self.per_client, "oauth-client"),
                self.leases.around(self.per_token, "oauth-token"),
            )

    def hits(
        self, client_id: str, token_key: str
    ) -> tuple[tuple[RateLimitItem, tuple[str, ...]], ...]:
        """Return the (limit, identifiers) that one request of this token of this client
        counts against."""
        return (
            (self.per_client, ("oauth-client", client_id)),
            (self.per_token, ("oauth-token", token_key)),
        )

    def wait(self, client_id: str, token_key: str) -> int | None:
        """Count one request of this token of this client; return the seconds to wait when
        it went over a limit, else None. On Redis units are leased ahead (`Leases`)."""
        if self.leases is None:
            return self.limits.wait(*self.hits(client_id, token_key))
        client, token = self.windows
        return self.leases.wait(
            (self.per_client, client_id.join(client)),
            (self.per_token, token_key.join(token)),
        )
