"""Sessions and OAuth access tokens as the cache holds them, keyed by their secret's SHA-256.

- `session:<sha256 hex of the sid cookie>` holds `{"uid": N}` (`null`: an anonymous session).
- `token:<sha256 hex of the access token>` holds `{"uid": N, "client_id": "...",
  "scopes": [...], "expires_at": <unix seconds>}`, and `"revoked": true` once revoked.

Only hashes are keys (CONTRACT 11). Login and OAuth write these keys; the API's callers
middleware (api/callers.py) reads them here. A cache that cannot answer raises one of
`CACHE_FAILURES`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

import redis

from upare.cache import Cache

CACHE_FAILURES = (redis.RedisError, sqlite3.Error)


def identity(secret: str) -> str:
    """Return the SHA-256 hex of a secret: the caller's stable identity, never the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def session_key(secret: str) -> str:
    return "session:" + identity(secret)


def token_key(secret: str) -> str:
    return "token:" + identity(secret)


def _read(cache: Cache, key: str) -> dict[str, Any] | None:
    value = cache.get(key)
    return None if value is None else json.loads(value)


def read_session(cache: Cache, sid: str) -> dict[str, Any] | None:
    """Return the session of this `sid` cookie, or None when there is none."""
    return _read(cache, session_key(sid))


def read_token(cache: Cache, token: str) -> dict[str, Any] | None:
    """Return the state of this access token, or None when it is unknown."""
    return _read(cache, token_key(token))
