"""Sessions and OAuth access tokens as the cache holds them, keyed by their secret's SHA-256.

- `session:<sha256 hex of the sid cookie>` holds `{"uid": N}` (`null`: an anonymous session,
  made by the first captcha request).
- `sessions:<uid>` is the set of a user's session identities, so that a password change can
  end the user's other sessions.
- `token:<sha256 hex of the access token>` holds `{"uid": N, "client_id": "...",
  "scopes": [...], "expires_at": <unix seconds>}`, and `"revoked": true` once revoked.

Only hashes are keys (CONTRACT 11). Login and OAuth write these keys; the API's callers
middleware (api/callers.py) reads them here. A cache that cannot answer raises one of
`CACHE_FAILURES`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from typing import Any

import redis

from upare.cache import Cache

CACHE_FAILURES = (redis.RedisError, sqlite3.Error)
DAY = 24 * 3600
REMEMBERED = 30 * DAY  # a session of `login` with `remember`; else a DAY


def identity(secret: str) -> str:
    """Return the SHA-256 hex of a secret: the caller's stable identity, never the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def session_key(secret: str) -> str:
    return "session:" + identity(secret)


def token_key(secret: str) -> str:
    return "token:" + identity(secret)


def user_sessions_key(uid: int) -> str:
    return f"sessions:{uid}"


def new_secret() -> str:
    """Return a fresh random secret (256 bits) for a session id, a token or a ticket."""
    return secrets.token_urlsafe(32)


def _read(cache: Cache, key: str) -> dict[str, Any] | None:
    value = cache.get(key)
    return None if value is None else json.loads(value)


def read_session(cache: Cache, sid: str) -> dict[str, Any] | None:
    """Return the session of this `sid` cookie, or None when there is none."""
    return _read(cache, session_key(sid))


def read_token(cache: Cache, token: str) -> dict[str, Any] | None:
    """Return the state of this access token, or None when it is unknown."""
    return _read(cache, token_key(token))


def open_session(cache: Cache, uid: int | None, ttl_seconds: int = DAY) -> str:
    """Start a session (anonymous when `uid` is None) and return its new `sid`."""
    sid = new_secret()
    cache.set(session_key(sid), json.dumps({"uid": uid}).encode(), ttl_seconds)
    if uid is not None:
        cache.join(user_sessions_key(uid), identity(sid), ttl_seconds)
    return sid


def end_session(cache: Cache, sid: str) -> None:
    """End the session of this `sid` cookie."""
    state = read_session(cache, sid)
    cache.delete(session_key(sid))
    if state is not None and state.get("uid") is not None:
        cache.leave(user_sessions_key(state["uid"]), identity(sid))


def end_other_sessions(cache: Cache, uid: int, keep: str | None) -> None:
    """End every session of this user but the one whose identity is `keep`."""
    key = user_sessions_key(uid)
    for member in cache.members(key) - {keep}:
        cache.delete("session:" + member)
        cache.leave(key, member)
