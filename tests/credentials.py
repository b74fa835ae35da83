"""Write sessions and tokens into a cache as login and OAuth do (upare/sessions.py's format)."""

from __future__ import annotations

import json
import time

from domain.keys import digest
from upare.cache import Cache
from upare.sessions import cache_token, revoke_token, session_key


def open_session(cache: Cache, sid: str, uid: int | None) -> None:
    cache.set(session_key(sid), json.dumps({"uid": uid}).encode(), 3600)


def issue_token(
    cache: Cache,
    token: str,
    uid: int,
    scopes: tuple[str, ...] = ("all",),
    expires_in: float = 3600,
    revoked: bool = False,
) -> None:
    """Cache an access token as the token endpoint does (revoked, as delete and revoke do)."""
    cache_token(
        cache,
        digest(token),
        uid=uid,
        client_id="100000000000001",
        scopes=list(scopes),
        expires_at=time.time() + expires_in,
        authorization="0" * 32,
    )
    if revoked:
        revoke_token(cache, digest(token))
