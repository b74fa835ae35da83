"""SNS tickets: the server's signed, expiring word that a caller holds an SNS identity.

`snsreg` binds the identity a ticket names (a channel such as `weibo`, and the openid that
channel gave the user), never an openid a client merely sends. Whatever completes an SNS
sign-in (an OAuth callback; for development, `upare sns ticket`) issues the ticket.

A ticket is `<payload>.<signature>`, both base64url without padding: the payload is the JSON
`{"channel", "openid", "expires"}` (Unix seconds), the signature its HMAC-SHA256 under
`UPARE_SECRET_KEY`, with a label of its own so that no other signature of that key passes
for a ticket. A ticket that does not parse, whose signature is wrong, or whose time is up is
refused as `100004` naming `sns_ticket`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from domain.errors import UpareError, invalid

LABEL = b"upare sns ticket\n"
TTL_SECONDS = 600
CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,31}")  # weibo, qq, wechat ...
OPENID = re.compile(r"[^\x00-\x20\x7f]{1,128}")  # opaque to us: no spaces or controls


@dataclass(frozen=True)
class Identity:
    """An SNS account: the channel and the openid it gave the user."""

    channel: str
    openid: str


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret_key: str, payload: str) -> str:
    return _encode(hmac.new(secret_key.encode(), LABEL + payload.encode(), hashlib.sha256).digest())


def check_identity(channel: str, openid: str) -> Identity:
    """Return the identity if its channel and openid are well formed; ValueError if not."""
    if not CHANNEL.fullmatch(channel):
        raise ValueError("the channel must be 1-32 lower-case letters, digits or '_'")
    if not OPENID.fullmatch(openid):
        raise ValueError("the openid must be 1-128 characters without spaces or controls")
    return Identity(channel, openid)


def issue(secret_key: str, identity: Identity, now: float, ttl: int = TTL_SECONDS) -> str:
    """Return a ticket for this identity, valid for `ttl` seconds from `now`."""
    check_identity(identity.channel, identity.openid)
    document = {"channel": identity.channel, "openid": identity.openid, "expires": int(now) + ttl}
    payload = _encode(json.dumps(document, separators=(",", ":")).encode())
    return f"{payload}.{_signature(secret_key, payload)}"


def _refused(reason: str) -> UpareError:
    return invalid(sns_ticket=reason)


def read(secret_key: str, ticket: str, now: float) -> Identity:
    """Return the identity a ticket of this server names; 100004 unless it is sound and current."""
    payload, dot, signature = ticket.strip().partition(".")
    if not (payload and dot and signature):
        raise _refused("is not a ticket")
    if not hmac.compare_digest(signature.encode(), _signature(secret_key, payload).encode()):
        raise _refused("is not signed by this server")
    try:  # signed by us, so well formed unless the key signed something else
        document = json.loads(_decode(payload))
        identity = check_identity(document["channel"], document["openid"])
        expires = document["expires"]
        if type(expires) is not int:
            raise TypeError(expires)
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise _refused("is not a ticket") from None
    if expires <= now:
        raise _refused("has expired")
    return identity
