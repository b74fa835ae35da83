"""Issuing, deleting and revoking OAuth access tokens (CONTRACT 6; RFC 6749, 7636, 9700).

Three grants issue a token pair from an `Authorization` (domain/oauth.py, one token family):
a code (`ExchangeCode`), a refresh token (`RefreshTokens`) and a password (`GrantPassword`).
The authorization's version is the lock: of concurrent exchanges of one code, or refreshes of
one token, one saves and the others meet a version conflict; the bus runs them again, and
then they find the code redeemed (the refresh token retired), which is a replay: it revokes
the family (RFC 6749 10.5, RFC 9700 4.14.2). A family stands while it is not revoked, its
grant was not withdrawn since (the grant's `epoch`) and the user's password did not change
(its `password_stamp`); its client must still be live too.

Events keep digests only; the access token lives in the cache (upare/sessions.py), which the
API's callers read. A cache that cannot answer here answers 201207.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from commands.application import Done, WriteApplication
from commands.clients import load_client
from commands.credentials import prove_account
from commands.users import load_user
from domain.errors import UpareError
from domain.keys import digest, new_secret, same
from domain.oauth import (
    ACCESS_SECONDS,
    REFRESH_SECONDS,
    Authorization,
    Client,
    Grant,
    check_scopes,
    code_authorization_id,
    grant_id,
    password_stamp,
    refresh_family,
    refresh_token,
)
from upare.cache import Cache
from upare.rate_limits import RateLimits
from upare.sessions import (
    CACHE_FAILURES,
    cache_token,
    read_token,
    revoke_token,
    revoke_user_tokens,
)

REMIND_BEFORE = 600  # remind_in: the client should refresh 10 minutes before expires_in
Clock = Callable[[], datetime]


@dataclass(frozen=True, kw_only=True)
class ExchangeCode:
    """Exchange an authorization code (with its PKCE verifier, if it has a challenge)."""

    client_id: str | None
    client_secret: str | None
    code: str | None
    redirect_uri: str | None
    code_verifier: str | None = None


@dataclass(frozen=True, kw_only=True)
class RefreshTokens:
    """Trade a refresh token for a new pair; `scope` may narrow the new access token."""

    client_id: str | None
    client_secret: str | None
    refresh_token: str | None
    scope: str | None = None


@dataclass(frozen=True, kw_only=True)
class GrantPassword:
    """Issue a pair for a username (or email) and password, to a client allowed to ask."""

    client_id: str | None
    client_secret: str | None
    username: str | None
    password: str | None
    address: str  # the client's, counted for the login lockout
    scope: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeleteAccess:
    """End one live access token."""

    access_token: str


@dataclass(frozen=True, kw_only=True)
class RevokeGrant:
    """Withdraw the grant of a live access token's user to its client."""

    access_token: str


@contextmanager
def token_cache() -> Iterator[None]:
    """Answer 201207 when the token cache cannot answer (fail closed, CONTRACT 11)."""
    try:
        yield
    except CACHE_FAILURES as ex:
        raise UpareError(201207) from ex


def _find(app: WriteApplication, aggregate_id: UUID) -> Any:
    try:
        return app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None


def authenticate(app: WriteApplication, client_id: str | None, secret: str | None) -> Client:
    """Return the client these credentials prove (RFC 6749 2.3): 201210 without an id, 201213
    for an unknown or deleted one, 201211 without the secret of a confidential one, 201208 for
    a wrong secret (a public client has none to send)."""
    if not client_id:
        raise UpareError(201210)
    client = load_client(app, client_id)
    if client is None:
        raise UpareError(201213)
    if client.public:
        if secret:
            raise UpareError(201208)
        return client
    if not secret:
        raise UpareError(201211)
    if not client.proves(secret):
        raise UpareError(201208)
    return client


def grant_epoch(app: WriteApplication, uid: int, client_id: str) -> int:
    """Return the epoch of the user's grant to the client (0 before any)."""
    grant: Grant | None = _find(app, grant_id(uid, client_id))
    return 0 if grant is None else grant.epoch


def stands(app: WriteApplication, authorization: Authorization) -> bool:
    """Tell whether a family stands: not revoked, its grant and the user's password as then."""
    user = load_user(app, authorization.uid)
    epoch = grant_epoch(app, authorization.uid, authorization.client_id)
    return authorization.stands(epoch, password_stamp(user.password_hash))


def revoke_family(
    app: WriteApplication, cache: Cache, authorization: Authorization, reason: str
) -> None:
    """Revoke a family: in the store (once), and each access token issued from it at once."""
    if not authorization.revoked:
        authorization.revoke(reason)
        app.save(authorization)
    with token_cache():
        for access_digest in authorization.access:
            revoke_token(cache, access_digest)


def issue(
    app: WriteApplication,
    cache: Cache,
    clock: Clock,
    authorization: Authorization,
    scopes: list[str],
    *also: Aggregate,
) -> Done:
    """Issue a pair from this authorization, save it (with `also`), cache the access token
    for `scopes`, and answer the token response."""
    now = clock().timestamp()
    access, refresh = new_secret(), refresh_token(authorization.id)
    expires_at = now + ACCESS_SECONDS
    authorization.issue(digest(access), expires_at, digest(refresh), now + REFRESH_SECONDS)
    done = app.record(authorization, *also)
    uid, client_id = authorization.uid, authorization.client_id
    with token_cache():
        cache_token(
            cache,
            digest(access),
            uid=uid,
            client_id=client_id,
            scopes=scopes,
            expires_at=expires_at,
            authorization=authorization.id.hex,
        )
        # a replay that raced this save revoked the family before the token was cached
        if _find(app, authorization.id).revoked:
            revoke_token(cache, digest(access))
    answer = {
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": ACCESS_SECONDS,
        "remind_in": ACCESS_SECONDS - REMIND_BEFORE,
        "uid": uid,
        "scope": " ".join(scopes),
        "token_type": "Bearer",
    }
    return Done(done.position, answer)


def exchange_code(
    command: ExchangeCode, *, app: WriteApplication, cache: Cache, clock: Clock
) -> Done:
    """Issue the pair of a code: once, to its client, with its redirect_uri and verifier,
    within its 10 minutes, while its family stands. A second use revokes the family."""
    client = authenticate(app, command.client_id, command.client_secret)
    authorization: Authorization | None = None
    if command.code:
        authorization = _find(app, code_authorization_id(digest(command.code)))
    if authorization is None or authorization.client_id != client.client_id:
        raise UpareError(201215)
    if authorization.redeemed:
        revoke_family(app, cache, authorization, "code replayed")
        raise UpareError(201215)
    if command.redirect_uri != authorization.redirect_uri:
        raise UpareError(201205)
    expired = clock().timestamp() >= (authorization.code_expires_at or 0)
    unproven = client.public and authorization.code_challenge is None  # PKCE is a must
    verified = authorization.verifies(command.code_verifier)
    if expired or unproven or not verified or not stands(app, authorization):
        raise UpareError(201215)
    return issue(app, cache, clock, authorization, authorization.scopes)


def refresh_tokens(
    command: RefreshTokens, *, app: WriteApplication, cache: Cache, clock: Clock
) -> Done:
    """Issue a new pair for the family's current refresh token and retire it; a retired one
    revokes the family. The family keeps its scopes; `scope` narrows the new access token."""
    client = authenticate(app, command.client_id, command.client_secret)
    presented = command.refresh_token or ""
    family = refresh_family(presented)
    authorization: Authorization | None = None if family is None else _find(app, family)
    if authorization is None or authorization.client_id != client.client_id:
        raise UpareError(201209)
    if digest(presented) in authorization.retired:
        revoke_family(app, cache, authorization, "refresh token reused")
        raise UpareError(201209)
    lapsed = clock().timestamp() >= (authorization.refresh_expires_at or 0)
    if lapsed or not same(presented, authorization.refresh_digest):
        raise UpareError(201209)
    if not stands(app, authorization):
        raise UpareError(201209)
    scopes = check_scopes(command.scope or "", authorization.scopes)
    if scopes is None:
        raise UpareError(201206)
    return issue(app, cache, clock, authorization, scopes)


def grant_password(
    command: GrantPassword,
    *,
    app: WriteApplication,
    cache: Cache,
    limits: RateLimits,
    clock: Clock,
) -> Done:
    """Issue a pair for an account's password (behind the login lockout), to a client an
    operator allowed the password grant (201214 otherwise)."""
    client = authenticate(app, command.client_id, command.client_secret)
    if not client.password_grant:
        raise UpareError(201214)
    if not command.username or not command.password:
        raise UpareError(201212)
    scopes = check_scopes(command.scope or "", client.scopes)
    if scopes is None:
        raise UpareError(201206)
    user = prove_account(app, limits, command.username, command.password, command.address)
    authorization = Authorization(
        uid=user.uid,
        client_id=client.client_id,
        scopes=scopes,
        redirect_uri=None,
        code_digest=None,
        code_expires_at=None,
        code_challenge=None,
        epoch=grant_epoch(app, user.uid, client.client_id),
        password_stamp=password_stamp(user.password_hash),
    )
    return issue(app, cache, clock, authorization, scopes)


def live_token(cache: Cache, token: str) -> dict[str, Any] | None:
    """Return the cached state of a live access token (not expired, deleted or revoked)."""
    with token_cache():
        state = read_token(cache, token)
    if state is None or state.get("revoked") or state["expires_at"] <= time.time():
        return None
    return state


def delete_access(command: DeleteAccess, *, app: WriteApplication, cache: Cache) -> Done:
    """End one live access token, in the store and in the cache; 201301 for any other."""
    state = live_token(cache, command.access_token)
    authorization: Authorization | None = None
    if state is not None and state.get("authorization"):
        authorization = _find(app, UUID(hex=state["authorization"]))
    if authorization is None:
        raise UpareError(201301)
    access_digest = digest(command.access_token)
    done = Done()  # deleted in the store already: only its cache entry outlived a failure
    if access_digest in authorization.access:
        authorization.delete_access(access_digest)
        done = app.record(authorization)
    with token_cache():
        revoke_token(cache, access_digest)
    return done


def revoke_grant(command: RevokeGrant, *, app: WriteApplication, cache: Cache) -> Done:
    """Withdraw the grant of a live token's user to its client: the consent is forgotten,
    every family made before is void (the epoch moves), and every access token of that user
    and client ends at once; 201401 for a token that is not live."""
    state = live_token(cache, command.access_token)
    if state is None:
        raise UpareError(201401)
    uid, client_id = state["uid"], state["client_id"]
    grant: Grant = _find(app, grant_id(uid, client_id)) or Grant(uid=uid, client_id=client_id)
    grant.withdraw()
    done = app.record(grant)
    with token_cache():
        revoke_user_tokens(cache, uid, client_id)
    return done
