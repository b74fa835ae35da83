"""Verification codes (CONTRACT 5 and 11) as the cache holds them, and the sends that carry them.

Deployments (or tests) sharing one Redis keep apart by the cache's prefix
(`UPARE_REDIS_PREFIX`), since uids are numbered per store.

- `code:<uid>:<medium>:<purpose>` holds `{"digest", "value", "id"}` for 10 minutes:
  an HMAC-SHA256 of the code keyed with the secret key, never the code itself; the email or
  phone number it was sent to; and a random id naming its tries. A new code replaces the
  earlier one of the same user, medium and purpose.
- `code-tries:<id>` counts the tries of one code. Each try counts before it is compared, so
  however many race, at most `TRIES` are ever compared; past them the code is used up.
- `code-timer:<uid>:<medium>` is the resend interval, set only if absent (`add`), so
  two sends racing cannot both pass it.

`start_send` is what every send does first (register's mail, `sendcode`): the interval
(202007), the day's limit per address or number (201204), a new code and the message that
carries it. The code leaves this module only inside that message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets

from domain.errors import UpareError
from domain.users import MEDIA
from projections import outbox
from upare.cache import Cache
from upare.rate_limits import CODE_SENDS, RateLimits
from upare.settings import Settings

TTL_SECONDS = 10 * 60
TRIES = 5
DIGITS = 6
VERIFY = "verify"  # the purpose of register's code and of sendcode's: verify a medium


def _key(settings: Settings, uid: int, medium: str, purpose: str) -> str:
    return f"code:{uid}:{medium}:{purpose}"


def _timer(settings: Settings, uid: int, medium: str) -> str:
    return f"code-timer:{uid}:{medium}"


def _digest(settings: Settings, key: str, code: str) -> str:
    mac = hmac.new(settings.secret_key.encode(), f"{key}:{code}".encode(), hashlib.sha256)
    return mac.hexdigest()


def issue(cache: Cache, settings: Settings, uid: int, medium: str, purpose: str, value: str) -> str:
    """Make a new code for the value of this user's medium (replacing any earlier) and return it.

    The caller puts it in the message to `value` and nowhere else.
    """
    code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
    key = _key(settings, uid, medium, purpose)
    state = {"digest": _digest(settings, key, code), "value": value, "id": secrets.token_hex(16)}
    cache.set(key, json.dumps(state).encode(), TTL_SECONDS)
    return code


def redeem(
    cache: Cache, settings: Settings, uid: int, medium: str, purpose: str, code: str
) -> str | None:
    """Use up the code if it is right and return the value it was sent to; else None.

    Every try counts, right or wrong; after `TRIES` tries the code is used up, so the right
    code fails too.
    """
    key = _key(settings, uid, medium, purpose)
    found = cache.get(key)
    if found is None:
        return None
    state = json.loads(found)
    if cache.incr(f"code-tries:{state['id']}", TTL_SECONDS) > TRIES:
        return None
    if not hmac.compare_digest(state["digest"], _digest(settings, key, code)):
        return None
    if cache.take(key) != found:  # taken by a concurrent try, or replaced by a new code
        return None
    return str(state["value"])


def hold(cache: Cache, settings: Settings, uid: int, medium: str) -> int | None:
    """Start the resend interval of this user's medium; if one runs, return its seconds left.
    An interval of 0 is none: no timer (the cache keeps a key at least a millisecond, and
    such a timer once held back one of nine codes asked back to back)."""
    timer = _timer(settings, uid, medium)
    if settings.code_resend_seconds <= 0 or cache.add(timer, b"1", settings.code_resend_seconds):
        return None
    return max(1, math.ceil(cache.ttl(timer) or 0))


def release(cache: Cache, settings: Settings, uid: int, medium: str) -> None:
    """End the resend interval (its send failed), so that a new code can be sent at once."""
    cache.delete(_timer(settings, uid, medium))


def forget(cache: Cache, settings: Settings, uid: int) -> None:
    """Drop every code state of this user (an erasure: it names their email or phone)."""
    keys = []
    for medium in MEDIA:
        key = _key(settings, uid, medium, VERIFY)
        found = cache.get(key)
        if found is not None:
            keys.append(f"code-tries:{json.loads(found)['id']}")
        keys += [key, _timer(settings, uid, medium)]
    cache.forget(*keys)


def message(medium: str, value: str, code: str) -> outbox.Message:
    """Return the mail (medium `email`) or SMS (`phone`) that carries a code to `value`."""
    text = f"Your Upare verification code is {code}. It is valid for {TTL_SECONDS // 60} minutes."
    if medium == "phone":
        return outbox.sms(to=value, body=text)
    return outbox.mail(to=value, subject="Your Upare verification code", body=text + "\n")


def start_send(
    cache: Cache, limits: RateLimits, settings: Settings, uid: int, medium: str, value: str
) -> tuple[str, outbox.Message]:
    """Begin sending a new code to `value`; return the outbox key and message to send.

    202007 (with `Retry-After`, the seconds left) inside the resend interval; 201204 (with
    `Retry-After`) past the day's sends to this address or number.
    """
    left = hold(cache, settings, uid, medium)
    if left is not None:
        raise UpareError(202007, settings.code_resend_seconds, headers={"Retry-After": str(left)})
    address = hashlib.sha256(value.strip().casefold().encode()).hexdigest()
    sends = ("code-sends", medium, address)
    if not limits.hit(CODE_SENDS, *sends):
        release(cache, settings, uid, medium)
        wait = limits.retry_after(CODE_SENDS, *sends) or 1
        raise UpareError(201204, headers={"Retry-After": str(wait)})
    code = issue(cache, settings, uid, medium, VERIFY, value)
    return f"code:{uid}:{medium}:{secrets.token_hex(8)}", message(medium, value, code)
