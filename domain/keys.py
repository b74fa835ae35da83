"""Secrets and what is kept of them (CONTRACT 11).

Session ids, client secrets, codes and tokens are random (`secrets`, 256 bits) and kept only
as their SHA-256 hex (`digest`): enough for secrets of that strength, and a lookup stays a
key. Comparisons are constant-time (`same`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    """Return a fresh random secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Return the SHA-256 hex of a secret: what the store and the cache keep of it."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(secret: str, secret_digest: str | None) -> bool:
    """Tell in constant time whether `secret` is the one `secret_digest` was made from."""
    return secret_digest is not None and hmac.compare_digest(digest(secret), secret_digest)
