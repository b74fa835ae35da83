"""Authorizing a client (CONTRACT 6, RFC 6749 4.1): the checks of an authorization request, the
consent it needs, and the command that issues its code.

The checks run in the document's order, so that a request learns its first fault: the client
(201103), then its redirect URI (201104, byte for byte one of the client's), then the scopes and
PKCE (100004 naming `scope`, `code_challenge` or `code_challenge_method`; the endpoint turns
these into an `invalid_scope` / `invalid_request` redirect for a browser, since the redirect
URI is known to be good by then).

A code is a fresh secret; the store keeps only its digest, in the `Authorization` it starts,
whose id is derived from that digest so the token endpoint finds it from the code alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError

from commands.application import Done, WriteApplication
from commands.clients import load_client
from commands.users import load_user
from domain.errors import UpareError, invalid
from domain.keys import digest, new_secret
from domain.oauth import (
    CODE_SECONDS,
    Authorization,
    Client,
    Grant,
    check_scopes,
    covers,
    grant_id,
    password_stamp,
)

S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256, unpadded


@dataclass(frozen=True, kw_only=True)
class IssueCode:
    """A user's authorization of a client's request: answers `authorization_code`."""

    uid: int
    client_id: str
    redirect_uri: str
    scope: str = ""  # comma- or space-separated; empty: the client's scopes
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    consent: bool = False  # the user approved this request just now


def check_client(app: WriteApplication, client_id: str, redirect_uri: str) -> Client:
    """Return the client; 201103 when it is unknown or deleted, 201104 when the redirect URI is
    not exactly one it registered (no normalisation: RFC 9700 4.1.3)."""
    client = load_client(app, client_id)
    if client is None:
        raise UpareError(201103)
    if redirect_uri not in client.redirect_uris:
        raise UpareError(201104)
    return client


def check_scope(client: Client, scope: str) -> list[str]:
    """Return the scopes asked for (none: the client's); 100004 when one is unknown or not the
    client's."""
    scopes = check_scopes(scope, client.scopes)
    if scopes is None:
        raise invalid(scope=f"must be some of this client's scopes: {', '.join(client.scopes)}")
    return scopes


def check_challenge(client: Client, challenge: str | None, method: str | None) -> str | None:
    """Return the PKCE challenge (RFC 7636), or None; 100004 when it is malformed, its method is
    not S256 (a missing method means `plain`, which is refused), or a public client sent none."""
    if challenge is None:
        if method is not None:
            raise invalid(code_challenge="is required with code_challenge_method")
        if client.public:
            raise invalid(code_challenge="is required for a public client (PKCE, S256)")
        return None
    if method != "S256":
        raise invalid(code_challenge_method="must be S256 (plain is refused)")
    if not S256_CHALLENGE.fullmatch(challenge):
        raise invalid(code_challenge="must be the unpadded base64url SHA-256 of the verifier")
    return challenge


def load_grant(app: WriteApplication, uid: int, client_id: str) -> Grant | None:
    """Return what this user granted this client, if anything yet."""
    try:
        grant: Grant = app.repository.get(grant_id(uid, client_id))
    except AggregateNotFoundError:
        return None
    return grant


def needs_consent(client: Client, grant: Grant | None, scopes: list[str]) -> bool:
    """Tell whether the user must be asked: not for a trusted client, nor for scopes the user
    granted it already (and has not revoked since)."""
    return not client.trusted and (grant is None or not covers(grant.scopes, scopes))


def issue_code(command: IssueCode, *, app: WriteApplication, clock: Callable[[], datetime]) -> Done:
    """Issue a code for this request (valid CODE_SECONDS), remembering a consent given.

    201105 when the user's consent is needed and was not given. The authorization keeps the
    grant's epoch and a digest of the user's password hash, so that a revoked grant or a new
    password voids what is issued from it.
    """
    client = check_client(app, command.client_id, command.redirect_uri)
    scopes = check_scope(client, command.scope)
    challenge = check_challenge(client, command.code_challenge, command.code_challenge_method)
    grant = load_grant(app, command.uid, client.client_id)
    if not command.consent and needs_consent(client, grant, scopes):
        raise UpareError(201105)
    if grant is None:
        grant = Grant(uid=command.uid, client_id=client.client_id)
    if command.consent and not covers(grant.scopes, scopes):
        grant.consent(scopes)
    user = load_user(app, command.uid)
    code = new_secret()
    authorization = Authorization(
        uid=command.uid,
        client_id=client.client_id,
        scopes=scopes,
        redirect_uri=command.redirect_uri,
        code_digest=digest(code),
        code_expires_at=clock().timestamp() + CODE_SECONDS,
        code_challenge=challenge,
        epoch=grant.epoch,
        password_stamp=password_stamp(user.password_hash),
    )
    return app.record(grant, authorization, authorization_code=code)
