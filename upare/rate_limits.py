"""Rate limits (failed logins, code sends, OAuth token use) with the `limits` library's fixed
windows.

On Redis they use `limits`' own Redis storage, under the cache's prefix; on the embedded
default, `CacheStorage` keeps `limits`' counters in the SQLite cache (its `incr` is atomic
across processes).
"""

from __future__ import annotations

import math
import sqlite3
import time

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute, parse
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from upare.cache import Cache, RedisCache

LOGIN_FAILURES = RateLimitItemPerMinute(5, 15)  # per account and per client address
CODE_SENDS = RateLimitItemPerDay(10)  # per medium (an address or a number)
# count one event in each of KEYS, whose window (ARGV, seconds) starts at its first count
COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCR', key)
    redis.call('EXPIRE', key, ARGV[i], 'NX')
end
return counts
"""


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
        storage: Storage = CacheStorage(cache)
        if isinstance(cache, RedisCache):
            storage = RedisStorage(cache.url, key_prefix=cache.prefix + "LIMITS")
            self.count = cache.client.register_script(COUNT)
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
        """Count one event against each (limit, identifiers); return the seconds until every
        limit it went over allows again, or None when it went over none."""
        counts = self._count(hits)
        over = [hit for hit, count in zip(hits, counts, strict=True) if count > hit[0].amount]
        waits = [self.retry_after(item, *ids) or 1 for item, ids in over]
        return max(waits) if waits else None

    def _count(self, hits: tuple[tuple[RateLimitItem, tuple[str, ...]], ...]) -> list[int]:
        """Count one event against each limit as `FixedWindowRateLimiter.hit` does (the same
        keys; the window starts at the first count), on Redis in one command for them all
        (`COUNT`: INCR and EXPIRE NX of each key), where `limits` would run a script per
        limit. One command, not a pipeline of four: redis-py spends more time packing
        commands than Redis running them."""
        storage = self.limiter.storage
        if not isinstance(storage, RedisStorage):
            return [storage.incr(item.key_for(*ids), item.get_expiry()) for item, ids in hits]
        keys = [storage.prefixed_key(item.key_for(*ids)) for item, ids in hits]
        expiries = [item.get_expiry() for item, _ in hits]
        return [int(count) for count in self.count(keys, expiries)]


class TokenRates:
    """The request rates of OAuth token callers: per client and per access token
    (UPARE_OAUTH_CLIENT_RATE, UPARE_OAUTH_TOKEN_RATE, in `limits`' notation)."""

    def __init__(self, limits: RateLimits, client_rate: str, token_rate: str) -> None:
        self.limits = limits
        self.per_client = parse(client_rate)
        self.per_token = parse(token_rate)

    def wait(self, client_id: str, token_key: str) -> int | None:
        """Count one request of this token of this client; return the seconds to wait when
        it went over a limit, else None."""
        return self.limits.wait(
            (self.per_client, ("oauth-client", client_id)),
            (self.per_token, ("oauth-token", token_key)),
        )
