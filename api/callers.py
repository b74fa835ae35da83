"""Who is calling (CONTRACT 3), resolved once per request into `req.context.caller`.

A resource declares the caller it needs, as it declares its parameters:

- `ANYONE` (the default): credentials are resolved leniently; a stale or unknown one, or a
  cache that fails while resolving (logged), is just anonymous.
- `OPTIONAL`: credentials that are presented are checked strictly; nobody is allowed too.
- `USER`: a user is needed (202101); `USER.scope("calendar")` also needs that token scope
  (201206; scope `all` grants every one). Sessions have every scope.

A token that a strict need accepts counts against its client's and its own request rates
(upare/rate_limits.py `TokenRates`): past either, 201204 (HTTP 429) with `Retry-After`. On
Redis, sessions, tokens and last writes are read through the keys the process keeps
(upare/tracked.py) and tokens counted by leased units (`Leases`): most requests make no round
trip.

Credentials: `Authorization: Bearer <token>`, else the `access_token` parameter, else the `sid`
cookie. A strict check answers 201201 for an unknown token, 201203 for an expired or revoked
one, and fails closed when the cache cannot answer: 100003 for a session, 201207 for a token
(both HTTP 503). An unknown session cookie is no session: its caller is anonymous.

The `sid` cookie is set here too (`give_session`): read and written in one module.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import falcon

from domain.errors import UpareError
from domain.keys import digest
from upare import sessions
from upare.cache import Reads
from upare.rate_limits import TokenRates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """The resolved caller: `key` (SHA-256 hex of its secret) identifies it across requests;
    `last_write` is the position of its last write when it was resolved (read-your-writes)."""

    uid: int | None = None
    kind: str | None = None  # "session" or "token"
    client_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    key: str | None = None
    last_write: int = 0

    @property
    def session(self) -> str | None:
        """Return the identity of the caller's session (captchas are bound to it), if any."""
        return self.key if self.kind == "session" else None

    def user(self) -> int:
        """Return the caller's uid; 202101 when nobody is logged in."""
        if self.uid is None:
            raise UpareError(202101)
        return self.uid


ANONYMOUS = Caller()
EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Need:
    """The caller a resource needs, and the codes checking it can answer."""

    strict: bool = False
    user: bool = False
    scope_name: str | None = None

    def scope(self, name: str) -> Need:
        """Return this need with a token scope."""
        return replace(self, scope_name=name)

    def check(self, caller: Caller) -> None:
        if self.user:
            caller.user()
        scoped = self.scope_name and caller.kind == "token"
        if scoped and not {self.scope_name, "all"} & caller.scopes:
            raise UpareError(201206)

    def codes(self) -> tuple[int, ...]:
        strict = (201201, 201203, 201204, 100003, 201207) if self.strict else ()
        return strict + ((202101,) if self.user else ()) + ((201206,) if self.scope_name else ())


ANYONE = Need()
OPTIONAL = Need(strict=True)
USER = Need(strict=True, user=True)


def credentials(req: falcon.Request) -> tuple[str, str] | None:
    """Return the kind ("token" or "session") and secret the request presents, if any."""
    scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        return "token", token.strip()
    token = req.context.params.get("access_token")
    if token:
        return "token", token
    sid = req.cookies.get("sid")
    return ("session", sid) if sid else None


def give_session(resp: falcon.Response, sid: str, seconds: int, secure: bool) -> None:
    """Set the `sid` cookie for `seconds` (0: expire it at once): HttpOnly, SameSite=Lax,
    Path=/, and Secure when configured (UPARE_COOKIE_SECURE)."""
    resp.set_cookie(
        "sid",
        sid,
        max_age=seconds or None,  # Falcon leaves out a Max-Age of 0: an Expires in the past
        expires=None if seconds else EXPIRED,
        path="/",
        secure=secure,
        http_only=True,
        same_site="Lax",
    )


def resolve(cache: Reads, kind: str, secret: str) -> Caller:
    """Return the caller these credentials stand for; refuse an unknown or spent token.

    One read of the cache (answered from the process's memory while Redis tracks the keys
    unchanged) gets the session or token and the caller's last write."""
    key = digest(secret)
    state, written = sessions.read_caller(cache, kind, key)
    if kind == "token":
        return token_caller(key, state, written)
    if state is None:
        return ANONYMOUS
    return Caller(uid=state.get("uid"), kind="session", key=key, last_write=written)


def token_caller(key: str, state: dict[str, Any] | None, written: int) -> Caller:
    """Return the caller of the access token of this digest from its state; 201201 when it has
    none (an unknown token), 201203 when it is revoked or expired."""
    if state is None:
        raise UpareError(201201)
    if not sessions.live(state, time.time()):
        raise UpareError(201203)
    return Caller(
        uid=state["uid"],
        kind="token",
        client_id=state["client_id"],
        scopes=frozenset(state["scopes"]),
        key=key,
        last_write=written,
    )


class Callers:
    """Resolve the caller each resource needs, before its responder; refuse the wrong one."""

    def __init__(self, cache: Reads, rates: TokenRates) -> None:
        self.cache = cache
        self.rates = rates

    def caller(self, req: falcon.Request, need: Need) -> Caller:
        found = credentials(req)
        if found is None:
            return ANONYMOUS
        kind, secret = found
        try:
            if need.strict and kind == "token":
                return self.counted(secret)
            return resolve(self.cache, kind, secret)
        except UpareError:
            if need.strict:
                raise
            return ANONYMOUS
        except sessions.CACHE_FAILURES as ex:
            if need.strict:
                log.error("the cache failed while checking a %s: %r", kind, ex)
                raise UpareError(100003 if kind == "session" else 201207) from ex
            log.warning("the cache failed while resolving a %s; anonymous: %r", kind, ex)
            return ANONYMOUS

    def counted(self, token: str) -> Caller:
        """Resolve an access token and count its request; 201204 with Retry-After past its
        client's or its own rate. An unknown or spent token is not counted."""
        caller = resolve(self.cache, "token", token)
        assert caller.client_id is not None and caller.key is not None
        seconds = self.rates.wait(caller.client_id, caller.key)
        if seconds is not None:
            raise UpareError(201204, headers={"Retry-After": str(seconds)})
        return caller

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        need = getattr(resource, "caller", None)
        if need is not None and req.context.responds:
            req.context.caller = self.caller(req, need)
            need.check(req.context.caller)
