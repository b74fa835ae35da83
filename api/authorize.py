"""OAuth 2.0 authorize (CONTRACT 6, RFC 6749 4.1): a logged-in user's approval of a client's
request, answered as a code.

- `response_type=json`: the code in the envelope (`authorization_code`).
- `response_type=code`: a redirect (302) to `redirect_uri?code=CODE&state=STATE`. A browser
  (`Accept` preferring `text/html`) gets the login page when nobody is logged in, then the
  consent page; other callers get 202101 and 201105 instead.

Nothing is ever sent to a redirect URI that is not, byte for byte, one the client registered:
201101-201104 are shown (the envelope, or a page for a browser). Once the redirect URI is good,
a bad scope or PKCE parameter of a `code` request goes back to it as `error=invalid_scope` /
`invalid_request`; a `json` request gets 100004 naming the parameter.

Consent: a trusted client, or scopes the user granted the client already, skip it. Otherwise
`consent=true` approves (remembered in the user's grant), and only with the `csrf_token` of
this session and request, which the consent page carries (and a JSON caller gets in the 201105
answer): a missing or wrong one is `403 Unauthorized`. `consent=false` declines: 201105 for
`json`, `error=access_denied` for `code`. The login page posts to this endpoint too, with its
own `csrf_token`. An OAuth access token is no login here (201206): a token never authorizes.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote, urlencode

import falcon

from api import envelope, pages
from api.callers import OPTIONAL, Caller, give_session
from api.captchas import CAPTCHA, CAPTCHA_ID
from api.envelope import respond
from api.pages.csrf import csrf_token, proves
from api.params import Param
from api.resource import Resource
from api.sessions import log_in
from commands.authorize import (
    IssueCode,
    check_challenge,
    check_client,
    check_scope,
    load_grant,
    needs_consent,
)
from domain.errors import UpareError
from domain.keys import digest
from domain.oauth import Client
from upare import sessions
from upare.bootstrap import Container

REQUEST = (  # the authorization request, which the pages' forms carry on
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
RFC_ERRORS = {"scope": "invalid_scope"}  # any other refused parameter: invalid_request
URI_SAFE = "!#$%&'()*+,/:;=?@[]~"  # kept as they are in a Location (RFC 3986 reserved, `%`)


def location(uri: str, fields: dict[str, str | None]) -> str:
    """Return the redirect URI with these fields added to its query (its own query kept)."""
    base = quote(uri, safe=URI_SAFE)  # a registered URI keeps its bytes; others can't be sent
    query = urlencode({k: v for k, v in fields.items() if v is not None}, quote_via=quote)
    joiner = "" if base.endswith(("?", "&")) else "&" if "?" in base else "?"
    return base + joiner + query


def wants_pages(req: falcon.Request) -> bool:
    """Tell whether the caller is a browser in the code flow: it gets pages, not the envelope."""
    code_flow = getattr(req.context, "params", {}).get("response_type") != "json"
    preferred = req.client_prefers((falcon.MEDIA_JSON, falcon.MEDIA_HTML))
    return code_flow and preferred == falcon.MEDIA_HTML


class Authorize(Resource):
    path = "/api/oauth/authorize"
    summary = "Authorize a client for the logged-in user: a code, in the envelope or a redirect"
    params = (
        Param("client_id", required=True, missing=201101, description="the client's id"),
        Param(
            "redirect_uri",
            required=True,
            missing=201101,
            description="exactly one of the client's registered redirect URIs",
        ),
        Param(
            "response_type",
            required=True,
            missing=201102,
            description="`json`: the code in the envelope; `code`: a 302 to redirect_uri",
        ),
        Param("scope", description="comma- or space-separated; none: all the client's"),
        Param("state", description="given back to redirect_uri as it was sent"),
        Param("code_challenge", description="PKCE: the base64url SHA-256 of the verifier"),
        Param("code_challenge_method", description="PKCE: `S256` (`plain` is refused)"),
        Param("consent", "boolean", description="true: approve (with csrf_token); false: decline"),
        Param("csrf_token", description="the consent page's or 201105's; the login page's"),
        # the login page's form, which posts: a password is never read from a URL
        Param("username", max_length=254, body_only=True, description="username or email"),
        Param("password", body_only=True),
        replace(CAPTCHA, body_only=True),
        replace(CAPTCHA_ID, body_only=True),
        Param("remember", "boolean", default=False, body_only=True),
    )
    caller = OPTIONAL
    codes = (
        *(201102, 201103, 201104, 201105, 201206, 202101, 403),  # the request's
        *(200002, 201204, 202001, 202102, 202103),  # the login page's
    )
    answers = {"authorization_code": {"type": "string", "description": "for accessToken"}}
    get_too = True
    produces = (falcon.MEDIA_JSON, falcon.MEDIA_HTML)
    redirects = "to redirect_uri, with `code` (or `error`) and `state`"

    def __init__(self, container: Container) -> None:
        self.app = container.app
        self.bus = container.bus
        self.cache = container.cache
        self.settings = container.settings

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        if params["response_type"] not in ("json", "code"):
            raise UpareError(201102)
        client = check_client(self.app, params["client_id"], params["redirect_uri"])
        try:
            scopes = check_scope(client, params["scope"] or "")
            check_challenge(client, params["code_challenge"], params["code_challenge_method"])
        except UpareError as ex:
            if params["response_type"] == "json":
                raise
            [(name, reason)] = (ex.errors or {}).items()
            error = RFC_ERRORS.get(name, "invalid_request")
            self.redirect(req, resp, error=error, error_description=f"{name} {reason}")
            return
        if params["username"] is not None or params["password"] is not None:
            try:
                self.log_in(req, resp)
            except UpareError as ex:
                if not wants_pages(req):
                    raise
                self.login_page(req, resp, client, ex)
                return
        self.decide(req, resp, client, scopes)

    def decide(
        self, req: falcon.Request, resp: falcon.Response, client: Client, scopes: list[str]
    ) -> None:
        """Issue the code, or ask for what is missing first: a login, the user's consent."""
        params, caller = req.context.params, req.context.caller
        if caller.kind == "token":
            raise UpareError(201206)
        if caller.uid is None:
            if wants_pages(req):
                return self.login_page(req, resp, client)
            raise UpareError(202101)
        consent = params["consent"]
        if consent is False:
            if params["response_type"] == "json":
                raise UpareError(201105)
            return self.redirect(req, resp, error="access_denied")
        if consent and not self.proves(req, "consent"):
            raise UpareError(403)
        grant = load_grant(self.app, caller.uid, client.client_id)
        if not consent and needs_consent(client, grant, scopes):
            if wants_pages(req):
                return self.consent_page(req, resp, client, scopes)
            raise UpareError(201105, fields={"csrf_token": self.token(req, "consent")})
        command = IssueCode(
            uid=caller.uid,
            client_id=client.client_id,
            redirect_uri=params["redirect_uri"],
            scope=params["scope"] or "",
            code_challenge=params["code_challenge"],
            code_challenge_method=params["code_challenge_method"],
            consent=bool(consent),
        )
        done = self.bus.execute(command)
        if params["response_type"] == "json":
            return respond(req, resp, done)
        req.context.written = done.position
        self.redirect(req, resp, code=done.fields["authorization_code"])

    def log_in(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Log in from the login page (its CSRF token first; 202102 without both fields)."""
        params = req.context.params
        if not self.proves(req, "login"):
            raise UpareError(403)
        if not (params["username"] and params["password"]):
            raise UpareError(202102)
        log_in(req, resp, self.bus, self.cache, self.settings)

    def request(self, req: falcon.Request) -> dict[str, str | None]:
        return {name: req.context.params[name] for name in REQUEST}

    def token(self, req: falcon.Request, purpose: str) -> str:
        """Return the CSRF token of this form (`login` or `consent`) for this session."""
        session = req.context.caller.session
        return csrf_token(self.settings.secret_key, purpose, session, self.request(req))

    def proves(self, req: falcon.Request, purpose: str) -> bool:
        params, session = req.context.params, req.context.caller.session
        secret = self.settings.secret_key
        return proves(params["csrf_token"], secret, purpose, session, self.request(req))

    def redirect(self, req: falcon.Request, resp: falcon.Response, **fields: str) -> None:
        """Send the browser back to the (checked) redirect URI with these fields and `state`."""
        params = req.context.params
        resp.status = falcon.HTTP_302
        resp.set_header(
            "Location", location(params["redirect_uri"], {**fields, "state": params["state"]})
        )
        resp.set_header("Cache-Control", "no-store")

    def login_page(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        client: Client,
        error: UpareError | None = None,
    ) -> None:
        """Show the login form; a caller without a session gets an anonymous one first, which
        its captcha and CSRF token are bound to."""
        if req.context.caller.session is None:
            sid = sessions.open_session(self.cache, None)
            give_session(resp, sid, sessions.DAY, self.settings.cookie_secure)
            req.context.caller = Caller(kind="session", key=digest(sid))
        fields = {**self.request(req), "csrf_token": self.token(req, "login")}
        content = pages.render(
            "login.html",
            client=client.name,
            error=pages.error_note(error),
            action=req.path,
            hidden=pages.hidden(fields),
            username=req.context.params["username"] or "",
        )
        status = error.status if error else 200
        for name, value in (error.headers if error else {}).items():
            resp.set_header(name, value)
        pages.send(
            resp, "Log in", content, status=status, redirect_uri=req.context.params["redirect_uri"]
        )

    def consent_page(
        self, req: falcon.Request, resp: falcon.Response, client: Client, scopes: list[str]
    ) -> None:
        fields = {**self.request(req), "csrf_token": self.token(req, "consent")}
        content = pages.render(
            "consent.html",
            client=client.name,
            scopes=pages.scope_list(scopes),
            action=req.path,
            hidden=pages.hidden(fields),
        )
        pages.send(
            resp,
            "Authorize " + client.name,
            content,
            redirect_uri=req.context.params["redirect_uri"],
        )

    def refuse(self, req: falcon.Request, resp: falcon.Response, error: UpareError) -> None:
        """Refuse in the envelope, or, for a browser, on a page with the same code and status
        (the redirect URI is not trusted here: nothing is sent to it)."""
        if not wants_pages(req):
            return envelope.refuse(req, resp, error, bare=False)
        if error.status == 503:
            resp.set_header("Retry-After", str(envelope.RETRY_AFTER_SECONDS))
        for name, value in error.headers.items():
            resp.set_header(name, value)
        content = pages.render("refused.html", note=pages.error_note(error))
        pages.send(resp, "Request refused", content, status=error.status)
