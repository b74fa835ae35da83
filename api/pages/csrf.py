"""CSRF tokens of the authorize endpoint's forms (CONTRACT 11).

A token is an HMAC-SHA256 (keyed with `settings.secret_key`) over what the form is for
(`login` or `consent`), the caller's session identity and the authorization request it
carries, so that it is worth nothing in another session, for another client, redirect URI,
scope, state or challenge, or on the other form. Checked in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json


def csrf_token(secret_key: str, purpose: str, session: str, request: dict[str, str | None]) -> str:
    """Return the token of this form, session and request."""
    message = json.dumps([purpose, session, sorted(request.items())], separators=(",", ":"))
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def proves(
    token: str | None,
    secret_key: str,
    purpose: str,
    session: str | None,
    request: dict[str, str | None],
) -> bool:
    """Tell whether `token` is this form's, for this session and request."""
    if not token or session is None:
        return False
    return hmac.compare_digest(token, csrf_token(secret_key, purpose, session, request))
