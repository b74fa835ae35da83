"""OAuth 2.0 (CONTRACT 6): the apps (`Client`), a user's grant to an app (`Grant`), and each
authorization a grant gave (`Authorization`: one code or password grant and the tokens issued
from it, a token family).

No secret is in an event: client secrets, codes, access and refresh tokens are kept as their
digests (domain/keys.py).

A refresh token names its family: `<authorization id hex>.<secret>`, so that presenting a
retired one finds the family to revoke (RFC 9700 4.14.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from domain.keys import digest, new_secret, same
from domain.users import NAMESPACE

SCOPES = ("user_info", "friends", "calendar", "messages", "all")
CODE_SECONDS = 600  # an authorization code lives 10 minutes
ACCESS_SECONDS = 7200
REFRESH_SECONDS = 30 * 24 * 3600
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # a PKCE code_verifier (RFC 7636 4.1)


def client_aggregate_id(client_id: str) -> UUID:
    return uuid5(NAMESPACE, f"client:{client_id}")


def grant_id(uid: int, client_id: str) -> UUID:
    return uuid5(NAMESPACE, f"grant:{uid}:{client_id}")


def code_authorization_id(code_digest: str) -> UUID:
    """Return the id of the authorization a code starts (found again from the code alone)."""
    return uuid5(NAMESPACE, f"code:{code_digest}")


def password_stamp(password_hash: str) -> str:
    """Return what an authorization keeps of the user's password hash when it is made: a
    change of password changes it, and voids the families made before."""
    return digest(password_hash)


def refresh_token(authorization: UUID) -> str:
    """Return a fresh refresh token of this family."""
    return f"{authorization.hex}.{new_secret()}"


def refresh_family(token: str) -> UUID | None:
    """Return the family a refresh token names, or None when it names none."""
    family, dot, rest = token.partition(".")
    if not dot or not rest:
        return None
    try:
        return UUID(hex=family)
    except ValueError:
        return None


def check_scopes(requested: str, allowed: list[str]) -> list[str] | None:
    """Return the scopes asked for (comma- or space-separated; none: all the client's), or None
    when one is unknown or not the client's. `all` on the client allows every scope."""
    asked = [s for s in requested.replace(",", " ").split() if s]
    if not asked:
        return list(allowed)
    if any(s not in SCOPES for s in asked):
        return None
    if "all" not in allowed and any(s not in allowed for s in asked):
        return None
    return sorted(set(asked))


def covers(granted: list[str], asked: list[str]) -> bool:
    """Tell whether scopes already granted cover the ones asked for."""
    return "all" in granted or set(asked) <= set(granted)


class Client(Aggregate):
    """A third-party app registered by an operator (`upare clients create`).

    A public client (a browser or native app) has no secret and must use PKCE; a trusted one
    skips the consent page; the password grant is off unless `password_grant`.
    """

    class Registered(Aggregate.Created):
        client_id: str
        name: str
        redirect_uris: list[str]
        scopes: list[str]
        trusted: bool
        password_grant: bool
        public: bool
        secret_digest: str | None

    @staticmethod
    def create_id(client_id: str, **_: object) -> UUID:
        return client_aggregate_id(client_id)

    @event(Registered)
    def __init__(
        self,
        *,
        client_id: str,
        name: str,
        redirect_uris: list[str],
        scopes: list[str],
        trusted: bool,
        password_grant: bool,
        public: bool,
        secret_digest: str | None,
    ) -> None:
        self.client_id = client_id
        self.name = name
        self.redirect_uris = redirect_uris
        self.scopes = scopes
        self.trusted = trusted
        self.password_grant = password_grant
        self.public = public
        self.secret_digest = secret_digest
        self.deleted = False

    class SecretRotated(Aggregate.Event):
        secret_digest: str

    @event(SecretRotated)
    def rotate_secret(self, secret_digest: str) -> None:
        self.secret_digest = secret_digest

    class Deleted(Aggregate.Event):
        pass

    @event(Deleted)
    def delete(self) -> None:
        self.deleted = True

    def proves(self, secret: str) -> bool:
        """Tell (in constant time) whether this is the client's secret."""
        return same(secret, self.secret_digest)


class Grant(Aggregate):
    """What one user granted one client: the consented scopes (remembered, so the consent page
    is not shown again for them), until the user revokes the grant.

    `epoch` counts the revocations: an authorization made under an earlier epoch is void.
    """

    class Started(Aggregate.Created):
        uid: int
        client_id: str

    @staticmethod
    def create_id(uid: int, client_id: str, **_: object) -> UUID:
        return grant_id(uid, client_id)

    @event(Started)
    def __init__(self, *, uid: int, client_id: str) -> None:
        self.uid = uid
        self.client_id = client_id
        self.scopes: list[str] = []
        self.epoch = 0

    class Consented(Aggregate.Event):
        scopes: list[str]

    @event(Consented)
    def consent(self, scopes: list[str]) -> None:
        self.scopes = sorted(set(self.scopes) | set(scopes))

    class Withdrawn(Aggregate.Event):
        pass

    @event(Withdrawn)
    def withdraw(self) -> None:
        self.scopes = []
        self.epoch += 1


class Authorization(Aggregate):
    """One authorization of a client by a user (a code, or a password grant) and the token
    family issued from it.

    A code works once, before `code_expires_at`; its second use revokes the family. Each
    refresh retires the refresh token it used; presenting a retired one revokes the family.
    `epoch` is the grant's when this was made, `password_stamp` a digest of the user's password
    hash then: a revoked grant or a changed password voids the family.
    """

    class Started(Aggregate.Created):
        uid: int
        client_id: str
        scopes: list[str]
        redirect_uri: str | None
        code_digest: str | None
        code_expires_at: float | None
        code_challenge: str | None
        epoch: int
        password_stamp: str

    @staticmethod
    def create_id(code_digest: str | None, **_: object) -> UUID:
        return code_authorization_id(code_digest) if code_digest else uuid4()

    @event(Started)
    def __init__(
        self,
        *,
        uid: int,
        client_id: str,
        scopes: list[str],
        redirect_uri: str | None,
        code_digest: str | None,
        code_expires_at: float | None,
        code_challenge: str | None,
        epoch: int,
        password_stamp: str,
    ) -> None:
        self.uid = uid
        self.client_id = client_id
        self.scopes = scopes
        self.redirect_uri = redirect_uri
        self.code_digest = code_digest
        self.code_expires_at = code_expires_at
        self.code_challenge = code_challenge
        self.epoch = epoch
        self.password_stamp = password_stamp
        self.redeemed = code_digest is None  # a password grant has no code to redeem
        self.refresh_digest: str | None = None
        self.retired: list[str] = []  # refresh digests used already
        self.refresh_expires_at: float | None = None
        self.access: dict[str, float] = {}  # access digest -> expires_at, of every one issued
        self.revoked = False

    class TokensIssued(Aggregate.Event):
        access_digest: str
        access_expires_at: float
        refresh_digest: str
        refresh_expires_at: float

    @event(TokensIssued)
    def issue(
        self,
        access_digest: str,
        access_expires_at: float,
        refresh_digest: str,
        refresh_expires_at: float,
    ) -> None:
        """Issue a token pair: redeems the code, or retires the refresh token it replaces.

        A refresh token lives `REFRESH_SECONDS` from its issue: a family used at least that
        often lives on, an idle one lapses.
        """
        self.redeemed = True
        if self.refresh_digest is not None:
            self.retired.append(self.refresh_digest)
        self.refresh_digest = refresh_digest
        self.refresh_expires_at = refresh_expires_at
        self.access[access_digest] = access_expires_at

    class AccessDeleted(Aggregate.Event):
        access_digest: str

    @event(AccessDeleted)
    def delete_access(self, access_digest: str) -> None:
        self.access.pop(access_digest, None)

    class Revoked(Aggregate.Event):
        reason: str  # "code replayed", "refresh token reused", "grant revoked", ...

    @event(Revoked)
    def revoke(self, reason: str) -> None:
        self.revoked = True

    def stands(self, epoch: int, password_stamp: str) -> bool:
        """Tell whether the family still stands: not revoked, made under the grant's current
        `epoch` and with the user's current password (`password_stamp`)."""
        current = self.epoch == epoch and hmac.compare_digest(self.password_stamp, password_stamp)
        return current and not self.revoked

    def verifies(self, verifier: str | None) -> bool:
        """Tell whether a code_verifier answers the code's PKCE challenge (S256, RFC 7636
        4.6); a code without a challenge takes no verifier (RFC 9700 2.1.1)."""
        if self.code_challenge is None:
            return verifier is None
        if verifier is None or not VERIFIER.fullmatch(verifier):
            return False
        hashed = hashlib.sha256(verifier.encode()).digest()
        answer = base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()
        return hmac.compare_digest(answer, self.code_challenge)
