"""The OAuth token endpoint, and the ends of a token: delete (one token) and revoke (the grant).

`accessToken` authenticates the client by `client_id` and `client_secret` in the body, or by
HTTP Basic (RFC 6749 2.3.1: the form-urlencoded id and secret, base64); both at once must
agree (else 100004, `invalid_request`). A public client sends its `client_id` alone.
Every answer of it carries `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 5.1),
and every refusal RFC 6749 5.2's `error` and `error_description` beside `error_code`
(`TokenResponses`, which also answers `invalid_client` after Basic with 401 and
`WWW-Authenticate`).

`delete` and `revoke` take the token as `access_token` or `Authorization: Bearer`, and act on
a live one only: an unknown, expired, deleted or revoked token answers 201301 / 201401.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

import falcon

from api.callers import credentials
from api.envelope import respond
from api.params import Param
from api.resource import POSITION, Resource
from api.users import UID
from commands.tokens import DeleteAccess, ExchangeCode, GrantPassword, RefreshTokens, RevokeGrant
from domain.errors import UpareError, invalid
from upare.bootstrap import Container

GRANTS = ("authorization_code", "refresh_token", "password")
TEXT = {"type": "string"}
# RFC 6749 5.2's error of each refusal; any other 4xx is `invalid_request`
RFC_ERRORS = {
    201208: "invalid_client",
    201210: "invalid_client",
    201211: "invalid_client",
    201213: "invalid_client",
    201205: "invalid_grant",
    201209: "invalid_grant",
    201215: "invalid_grant",
    201204: "invalid_grant",  # the account is locked: its password is no grant for now
    202001: "invalid_grant",
    202103: "invalid_grant",
    201214: "unauthorized_client",
    201216: "unsupported_grant_type",
    201206: "invalid_scope",
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def basic_credentials(req: falcon.Request) -> tuple[str, str] | None:
    """Return the client id and secret of an `Authorization: Basic` header, if there is one."""
    scheme, _, encoded = (req.get_header("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid(Authorization="must be Basic base64(client_id:client_secret)") from None
    client_id, colon, secret = pair.partition(":")
    if not colon:
        raise invalid(Authorization="must be Basic base64(client_id:client_secret)")
    return unquote(client_id), unquote(secret)


def client_credentials(req: falcon.Request) -> tuple[str | None, str | None]:
    """Return the client's id and secret, from the body or HTTP Basic (both: they must agree)."""
    params = req.context.params
    client_id, secret = params["client_id"] or None, params["client_secret"] or None
    basic = basic_credentials(req)
    if basic is None:
        return client_id, secret
    if client_id not in (None, basic[0]) or secret not in (None, basic[1]):
        raise invalid(Authorization="differs from client_id and client_secret in the body")
    return basic[0] or None, basic[1] or None


def rfc_error(code: int, status: int, params: dict[str, Any]) -> str:
    """Return RFC 6749 5.2's `error` for a refusal of the token endpoint."""
    if code == 201216 and not params.get("grant_type"):
        return "invalid_request"  # no grant_type at all
    if status >= 500:
        return "temporarily_unavailable" if status == 503 else "server_error"
    return RFC_ERRORS.get(code, "invalid_request")


class TokenResponses:
    """Middleware: the token endpoint's answers as RFC 6749 5.1 and 5.2 want them, whichever
    part of the frame answered (a parameter, the method, the body limit, a command)."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool
    ) -> None:
        if req.path != AccessToken.path:
            return
        for name, value in NO_STORE.items():
            resp.set_header(name, value)
        media = resp.media
        if not isinstance(media, dict) or not media.get("error_code"):
            return
        params = getattr(req.context, "params", {})
        error = rfc_error(media["error_code"], resp.status_code, params)
        reasons = "; ".join(f"{name} {why}" for name, why in media.get("errors", {}).items())
        media["error"] = error
        media["error_description"] = (
            f"{media['message']}: {reasons}" if reasons else media["message"]
        )
        if error == "invalid_client" and (resp.status_code == 401 or basic_used(req)):
            resp.status = falcon.HTTP_401
            resp.set_header("WWW-Authenticate", 'Basic realm="upare"')


def basic_used(req: falcon.Request) -> bool:
    return (req.get_header("Authorization") or "").lower().startswith("basic ")


class AccessToken(Resource):
    path = "/api/oauth/accesstoken"
    summary = "Issue an access and a refresh token for a code, a refresh token or a password"
    params = (
        Param("grant_type", required=True, missing=201216, description=" or ".join(GRANTS)),
        Param("client_id", description="the app's id (or HTTP Basic)"),
        Param("client_secret", description="the app's secret (or HTTP Basic; none: public)"),
        Param("code", description="authorization_code: the code authorize gave"),
        Param("redirect_uri", description="authorization_code: the one the code was given to"),
        Param("code_verifier", description="authorization_code: PKCE, if the code has one"),
        Param("refresh_token", description="refresh_token: the family's current one"),
        Param("scope", description="refresh_token, password: fewer scopes than granted"),
        Param("username", description="password: the username or email"),
        Param("password", description="password: the account's password"),
    )
    codes = (
        *(201204, 201205, 201206, 201207, 201208, 201209, 201210, 201211, 201212),
        *(201213, 201214, 201215, 201216, 202001, 202103),
    )
    answers = {
        "access_token": TEXT,
        "refresh_token": TEXT,
        "expires_in": {"type": "integer", "description": "seconds"},
        "remind_in": {"type": "integer", "description": "seconds until a refresh is due"},
        "uid": UID,
        "scope": {"type": "string", "description": "space-separated"},
        "token_type": {"const": "Bearer"},
        "position": POSITION,
    }
    headers = dict(NO_STORE)

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = {name: value or None for name, value in req.context.params.items()}
        client_id, client_secret = client_credentials(req)
        client = {"client_id": client_id, "client_secret": client_secret}
        command: ExchangeCode | RefreshTokens | GrantPassword
        if params["grant_type"] == "authorization_code":
            command = ExchangeCode(
                **client,
                code=params["code"],
                redirect_uri=params["redirect_uri"],
                code_verifier=params["code_verifier"],
            )
        elif params["grant_type"] == "refresh_token":
            command = RefreshTokens(
                **client, refresh_token=params["refresh_token"], scope=params["scope"]
            )
        elif params["grant_type"] == "password":
            command = GrantPassword(
                **client,
                username=params["username"],
                password=params["password"],
                scope=params["scope"],
                address=req.remote_addr,
            )
        else:
            raise UpareError(201216)
        respond(req, resp, self.bus.execute(command))


def presented_token(req: falcon.Request) -> str:
    """Return the access token the request presents (Bearer or `access_token`); 201202."""
    found = credentials(req)
    if found is None or found[0] != "token" or not found[1]:
        raise UpareError(201202)
    return found[1]


class Delete(Resource):
    path = "/api/oauth/delete"
    summary = "End one access token at once"
    codes = (201202, 201207, 201301)
    answers = {"position": POSITION}
    optional = ("position",)  # none when the store had ended it already

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(req, resp, self.bus.execute(DeleteAccess(access_token=presented_token(req))))


class Revoke(Resource):
    path = "/api/oauth/revoke"
    summary = "Withdraw the token's user's grant to its client: every token and the consent"
    codes = (201202, 201207, 201401)
    answers = {"position": POSITION}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(req, resp, self.bus.execute(RevokeGrant(access_token=presented_token(req))))
