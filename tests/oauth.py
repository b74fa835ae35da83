"""OAuth helpers for tests: clients through the bus, and codes stored as authorize stores them
(an `Authorization` with the code's digest), so the token endpoint can be tested on its own."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import quote

from commands.application import WriteApplication
from commands.clients import CreateClient
from commands.tokens import grant_epoch
from commands.users import load_user
from domain.keys import digest, new_secret
from domain.oauth import CODE_SECONDS, Authorization, password_stamp
from upare.bootstrap import Container

REDIRECT = "https://app.example/callback"


def create_client(container: Container, **options) -> tuple[str, str | None]:
    """Register an app through the bus; return its client_id and client_secret."""
    command = CreateClient(name="Example app", redirect_uris=(REDIRECT,), **options)
    fields = container.bus.execute(command).fields
    return fields["client_id"], fields["client_secret"]


def issue_code(
    app: WriteApplication,
    uid: int,
    client_id: str,
    redirect_uri: str = REDIRECT,
    scopes: tuple[str, ...] = ("user_info",),
    challenge: str | None = None,
    expires_at: float | None = None,
) -> str:
    """Store a code for this user and client, as authorize does, and return the code.

    It carries the grant's epoch and the user's password stamp as they are now, and lives
    CODE_SECONDS from now unless `expires_at` says otherwise.
    """
    code = new_secret()
    authorization = Authorization(
        uid=uid,
        client_id=client_id,
        scopes=list(scopes),
        redirect_uri=redirect_uri,
        code_digest=digest(code),
        code_expires_at=time.time() + CODE_SECONDS if expires_at is None else expires_at,
        code_challenge=challenge,
        epoch=grant_epoch(app, uid, client_id),
        password_stamp=password_stamp(load_user(app, uid).password_hash),
    )
    app.save(authorization)
    return code


def s256(verifier: str) -> str:
    """Return the PKCE S256 challenge of a verifier (RFC 7636 4.2)."""
    hashed = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> str:
    """Return an `Authorization: Basic` value as RFC 6749 2.3.1 forms it."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()
