"""Sessions and OAuth access tokens as the cache holds them, keyed by their secret's SHA-256.

- `session:<sha256 hex of the sid cookie>` holds `{"uid": N}` (`null`: an anonymous session,
  made by the first captcha request).
- `sessions:<uid>` is the set of a user's session identities, so that a password change can
  end the user's other sessions.
- `token:<sha256 hex of the access token>` holds `{"uid": N, "client_id": "...",
  "scopes": [...], "expires_at": <unix seconds>, "authorization": "<family id hex>"}`, and
  `"revoked": true` once deleted or revoked (kept until it would have expired, so that it
  answers 201203 rather than 201201).
- `tokens:<uid>` is the set of a user's live access tokens, as `<client_id> <sha256 hex>`, so
  that revoking a grant or changing the password ends them at once on every API process.
- `client-tokens:<client_id>` is the set of a client's live access tokens (their sha256 hex),
  so that deleting the client ends them at once.
- `ryw:<sha256 hex of a session's or a token's secret>` holds the position of the caller's
  last write (read-your-writes, api/freshness.py); `read_caller` reads it with the session
  or token, in one round trip (on Redis, an API process keeps `session:`, `token:` and `ryw:`
  keys while Redis tracks them unchanged: upare/tracked.py).

Only hashes are keys (CONTRACT 11). Login and OAuth write these keys; the API's callers
middleware (api/callers.py) reads them here. A cache that cannot answer raises one of
`CACHE_FAILURES`.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import orjson
import redis

from domain.keys import digest, new_secret
from upare.cache import Cache, Reads

CACHE_FAILURES = (redis.RedisError, sqlite3.Error)
SESSION, TOKEN, LAST_WRITE = "session:", "token:", "ryw:"  # the prefixes of their keys
KEPT = (SESSION, TOKEN, LAST_WRITE)  # what an API process keeps while Redis tracks it
DAY = 24 * 3600
REMEMBERED = 30 * DAY  # a session of `login` with `remember`; else a DAY


def session_key(secret: str) -> str:
    return SESSION + digest(secret)


def token_key(secret: str) -> str:
    return TOKEN + digest(secret)


def last_write_key(identity: str) -> str:
    """Return the key of the last write of the caller of this identity (its secret's digest)."""
    return LAST_WRITE + identity


def user_sessions_key(uid: int) -> str:
    return f"sessions:{uid}"


def user_tokens_key(uid: int) -> str:
    return f"tokens:{uid}"


def client_tokens_key(client_id: str) -> str:
    return f"client-tokens:{client_id}"


def _read(cache: Cache, key: str) -> dict[str, Any] | None:
    value = cache.get(key)
    return None if value is None else orjson.loads(value)


def read_session(cache: Cache, sid: str) -> dict[str, Any] | None:
    """Return the session of this `sid` cookie, or None when there is none."""
    return _read(cache, session_key(sid))


def read_token(cache: Cache, token: str) -> dict[str, Any] | None:
    """Return the state of this access token, or None when it is unknown."""
    return _read(cache, token_key(token))


def read_caller(cache: Reads, kind: str, identity: str) -> tuple[dict[str, Any] | None, int]:
    """Return the state of the session or token ("session", "token") whose secret's digest is
    `identity`, and the position of its caller's last write (0: none known), read together (one
    round trip, or none where `cache` keeps them: `upare.tracked`)."""
    key = (SESSION if kind == "session" else TOKEN) + identity
    state, written = cache.get_many(key, last_write_key(identity))
    return (None if state is None else orjson.loads(state)), int(written or 0)


def live(token: dict[str, Any], now: float) -> bool:
    """Tell whether a token's state is still good at `now`: neither revoked nor expired."""
    return not token.get("revoked") and token["expires_at"] > now


def open_session(cache: Cache, uid: int | None, ttl_seconds: int = DAY) -> str:
    """Start a session (anonymous when `uid` is None) and return its new `sid`."""
    sid = new_secret()
    cache.set(session_key(sid), orjson.dumps({"uid": uid}), ttl_seconds)
    if uid is not None:
        cache.join(user_sessions_key(uid), digest(sid), ttl_seconds)
    return sid


def end_session(cache: Cache, sid: str) -> None:
    """End the session of this `sid` cookie."""
    state = read_session(cache, sid)
    cache.delete(session_key(sid))
    if state is not None and state.get("uid") is not None:
        cache.leave(user_sessions_key(state["uid"]), digest(sid))


def end_other_sessions(cache: Cache, uid: int, keep: str | None) -> None:
    """End every session of this user but the one whose identity is `keep`."""
    key = user_sessions_key(uid)
    for member in cache.members(key) - {keep}:
        cache.delete(SESSION + member)
        cache.leave(key, member)


def cache_token(
    cache: Cache,
    access_digest: str,
    *,
    uid: int,
    client_id: str,
    scopes: list[str],
    expires_at: float,
    authorization: str,
) -> None:
    """Make an issued access token (known by its digest) valid until `expires_at`."""
    state = {
        "uid": uid,
        "client_id": client_id,
        "scopes": scopes,
        "expires_at": expires_at,
        "authorization": authorization,
    }
    ttl = max(expires_at - time.time(), 1.0)
    cache.set(TOKEN + access_digest, orjson.dumps(state), ttl)
    cache.join(user_tokens_key(uid), f"{client_id} {access_digest}", ttl)
    cache.join(client_tokens_key(client_id), access_digest, ttl)


def revoke_token(cache: Cache, access_digest: str) -> None:
    """End one access token now: it answers 201203 until it would have expired."""
    key = TOKEN + access_digest
    state = _read(cache, key)
    if state is None:
        return
    ttl = state["expires_at"] - time.time()
    if ttl > 0:
        cache.set(key, orjson.dumps({**state, "revoked": True}), ttl)
    cache.leave(user_tokens_key(state["uid"]), f"{state['client_id']} {access_digest}")
    cache.leave(client_tokens_key(state["client_id"]), access_digest)


def revoke_user_tokens(cache: Cache, uid: int, client_id: str | None = None) -> None:
    """End every live access token of this user (only those of `client_id`, when given)."""
    for member in cache.members(user_tokens_key(uid)):
        owner, _, access_digest = member.partition(" ")
        if client_id is None or owner == client_id:
            revoke_token(cache, access_digest)


def revoke_client_tokens(cache: Cache, client_id: str) -> None:
    """End every live access token of this client (whichever user it was issued for)."""
    for access_digest in cache.members(client_tokens_key(client_id)):
        revoke_token(cache, access_digest)
