"""Write sessions and tokens into a cache as login and OAuth will (upare/sessions.py's format)."""

from __future__ import annotations

import json
import time

from upare.cache import Cache
from upare.sessions import session_key, token_key


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
    state = {
        "uid": uid,
        "client_id": "1001",
        "scopes": list(scopes),
        "expires_at": time.time() + expires_in,
    }
    if revoked:
        state["revoked"] = True
    cache.set(token_key(token), json.dumps(state).encode(), 3600)
