"""Rate limits (failed logins, code sends, OAuth token use) with the `limits` library's fixed
windows.

On Redis they use `limits`' own Redis storage, under the cache's prefix; on the embedded
default, `CacheStorage` keeps `limits`' counters in the SQLite cache (its `incr` is atomic
across processes). On Redis, a token request is read and counted in one script
(`READ_COUNTING`), in `limits`' own keys, so that `limits` tells its wait and clears it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from typing import Any

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute, parse
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from domain.keys import digest
from upare import sessions
from upare.cache import Cache, RedisCache

LOGIN_FAILURES = RateLimitItemPerMinute(5, 15)  # per account and per client address
CODE_SENDS = RateLimitItemPerDay(10)  # per medium (an address or a number)
MARK = "{id}"  # where a token's window keys take its client_id or digest (TokenRates)
# count one event in each of KEYS, whose window (ARGV, seconds) starts at its first count
COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCR', key)
    redis.call('EXPIRE', key, ARGV[i], 'NX')
end
return counts
"""
# Read an OAuth token's state and its caller's last write (KEYS[1], KEYS[2]) and, when the
# token is live at ARGV[1] (neither revoked nor expired), count one request as COUNT does in
# its client's window (key ARGV[2] .. client_id .. ARGV[3], ARGV[4] seconds) and in its own
# (KEYS[3], ARGV[5] seconds). The client's key is known only from the state: a key the script
# is not given, which one Redis server allows (a cluster would not).
READ_COUNTING = """
local state = redis.call('GET', KEYS[1])
local written = redis.call('GET', KEYS[2])
if not state then
    return {false, written}
end
local token = cjson.decode(state)
if token.revoked or token.expires_at <= tonumber(ARGV[1]) then
    return {state, written}
end
local reply = {state, written}
local windows = {{ARGV[2] .. token.client_id .. ARGV[3], ARGV[4]}, {KEYS[3], ARGV[5]}}
for i, window in ipairs(windows) do
    reply[i + 2] = redis.call('INCR', window[1])
    redis.call('EXPIRE', window[1], window[2], 'NX')
end
return reply
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
        self.cache = cache
        self.redis = cache if isinstance(cache, RedisCache) else None
        storage: Storage = CacheStorage(cache)
        if self.redis is not None:
            storage = RedisStorage(self.redis.url, key_prefix=self.redis.prefix + "LIMITS")
            self.count = self.redis.script(COUNT)
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
        return self.over(hits, self._count(hits))

    def over(
        self, hits: tuple[tuple[RateLimitItem, tuple[str, ...]], ...], counts: list[int]
    ) -> int | None:
        """Return the seconds until every limit these counts went over allows again, or None
        when they went over none."""
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
        self.read_counting = None
        if limits.redis is not None:
            self.read_counting = limits.redis.script(READ_COUNTING)
            storage = limits.limiter.storage
            assert isinstance(storage, RedisStorage)
            # each window's key on either side of its identifier, as `limits` makes it
            self.client_window, self.token_window = (
                storage.prefixed_key(item.key_for(name, MARK)).split(MARK)
                for item, name in (
                    (self.per_client, "oauth-client"),
                    (self.per_token, "oauth-token"),
                )
            )
            self.expiries = [self.per_client.get_expiry(), self.per_token.get_expiry()]

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
        it went over a limit, else None."""
        return self.limits.wait(*self.hits(client_id, token_key))

    def read_and_wait(self, token: str) -> tuple[dict[str, Any] | None, int, int | None]:
        """Return an access token's state and its caller's last write (as
        `sessions.read_caller` does) and, when the token is live, count its request as `wait`
        does: the seconds to wait past a limit, else None.

        On Redis one round trip does it all (READ_COUNTING), where reading then counting took
        two. On the embedded cache, it reads, then counts."""
        if self.read_counting is None:
            state, written = sessions.read_caller(self.limits.cache, "token", token)
            if state is None or not sessions.live(state, time.time()):
                return state, written, None
            return state, written, self.wait(state["client_id"], digest(token))
        redis, key = self.limits.redis, digest(token)
        assert redis is not None
        keys = [
            redis.prefix + sessions.token_key(token),
            redis.prefix + sessions.last_write_key(key),
            key.join(self.token_window),
        ]
        reply = self.read_counting(keys, [time.time(), *self.client_window, *self.expiries])
        state = None if reply[0] is None else json.loads(reply[0])
        written = int(reply[1] or 0)
        if state is None or len(reply) == 2:  # unknown, revoked or expired: not counted
            return state, written, None
        counts = [int(count) for count in reply[2:]]
        return state, written, self.limits.over(self.hits(state["client_id"], key), counts)
