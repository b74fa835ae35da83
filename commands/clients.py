"""Commands on OAuth clients (apps), registered by operators (`upare clients ...`), and the
lookups the OAuth endpoints share: the client of an id, and the client a secret proves.

Rotating a secret or deleting a client works at once: the token endpoint loads the client
from the store for every request (`load_client`), so the old secret, and any code or refresh
token of a deleted client, fail from the next request; deleting also ends the client's live
access tokens in the cache (`upare.sessions.revoke_client_tokens`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from eventsourcing.application import AggregateNotFoundError

from commands.application import Done, WriteApplication
from domain.errors import UpareError, invalid
from domain.keys import digest, new_secret
from domain.oauth import SCOPES, Client, client_aggregate_id
from upare.cache import Cache
from upare.sessions import revoke_client_tokens

CLIENT_ID_DIGITS = 15
# what an authorization response adds to the redirect URI's query (RFC 6749 4.1.2, 4.1.2.1)
RESPONSE_PARAMETERS = frozenset({"code", "state", "error", "error_description", "error_uri"})


@dataclass(frozen=True, kw_only=True)
class CreateClient:
    name: str
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...] = ("user_info",)
    trusted: bool = False
    password_grant: bool = False
    public: bool = False
    client_id: str = field(  # numeric, random: a retried create draws another
        default_factory=lambda: str(secrets.randbelow(9 * 10**14) + 10**14)
    )


def check_redirect_uri(uri: str) -> str:
    """Return a redirect URI fit to register: absolute, no fragment (RFC 6749 3.1.2), and no
    query parameter the authorization response adds (a registered `code` or `error` would
    reach the client beside the real one)."""
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc or parts.fragment or "#" in uri:
        raise invalid(redirect_uri=f"{uri!r} must be an absolute URI without a fragment")
    taken = RESPONSE_PARAMETERS & set(parse_qs(parts.query, keep_blank_values=True))
    if taken:
        raise invalid(redirect_uri=f"{uri!r} must not carry {', '.join(sorted(taken))}")
    return uri


def create_client(command: CreateClient, *, app: WriteApplication) -> Done:
    """Register an app; answer its `client_id` and `client_secret` (none for a public one),
    the only time the secret is shown."""
    if not command.name.strip():
        raise invalid(name="must not be empty")
    if not command.redirect_uris:
        raise invalid(redirect_uri="at least one is needed")
    unknown = [scope for scope in command.scopes if scope not in SCOPES]
    if unknown or not command.scopes:
        raise invalid(scope=f"must be some of {', '.join(SCOPES)}")
    secret = None if command.public else new_secret()
    client = Client(
        client_id=command.client_id,
        name=command.name.strip(),
        redirect_uris=[check_redirect_uri(uri) for uri in command.redirect_uris],
        scopes=sorted(set(command.scopes)),
        trusted=command.trusted,
        password_grant=command.password_grant,
        public=command.public,
        secret_digest=None if secret is None else digest(secret),
    )
    return app.record(client, client_id=client.client_id, client_secret=secret)


def load_client(app: WriteApplication, client_id: str) -> Client | None:
    """Return the live (not deleted) client with this id, or None."""
    if not client_id.isdigit() or len(client_id) != CLIENT_ID_DIGITS:
        return None
    try:
        client: Client = app.repository.get(client_aggregate_id(client_id))
    except AggregateNotFoundError:
        return None
    return None if client.deleted else client


@dataclass(frozen=True, kw_only=True)
class RotateClientSecret:
    client_id: str


@dataclass(frozen=True, kw_only=True)
class DeleteClient:
    client_id: str


def live_client(app: WriteApplication, client_id: str) -> Client:
    """Return the live client with this id; 201213 when there is none."""
    client = load_client(app, client_id)
    if client is None:
        raise UpareError(201213)
    return client


def rotate_client_secret(command: RotateClientSecret, *, app: WriteApplication) -> Done:
    """Give a confidential client a new secret (answered once); the old one fails at once."""
    client = live_client(app, command.client_id)
    if client.public:
        raise invalid(client_id="a public client has no secret")
    secret = new_secret()
    client.rotate_secret(digest(secret))
    return app.record(client, client_id=client.client_id, client_secret=secret)


def delete_client(command: DeleteClient, *, app: WriteApplication, cache: Cache) -> Done:
    """Delete a client and end its live access tokens in the cache.

    The deletion is stored first: from then on no new token is issued to the client, so the
    ones the cache is cleared of cannot come back.
    """
    client = live_client(app, command.client_id)
    client.delete()
    done = app.record(client, client_id=client.client_id)
    revoke_client_tokens(cache, client.client_id)
    return done
