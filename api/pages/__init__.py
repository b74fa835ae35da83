"""The HTML pages of the authorize endpoint (login, consent, error) and the headers they send.

Templates are the `.html` files beside this module, filled with `string.Template`: every value
is HTML-escaped (client names are operator input, `state` is attacker input) unless it is
`Html` this module built from escaped parts. Every page sends `X-Frame-Options: DENY`, a
Content-Security-Policy that allows nothing but the page's own nonce'd style, the captcha image
and form posts to Upare and to the redirect URI's origin (a form's redirect is checked against
`form-action`), `Cache-Control: no-store` and `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import re
import secrets
from functools import cache
from html import escape
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

import falcon

from domain.errors import UpareError

HOST = re.compile(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]")
SCOPE_TEXT = {
    "user_info": "your profile: username, nickname, avatar, email and phone",
    "friends": "your friends, and making or ending friendships",
    "calendar": "your calendar's to-do events",
    "messages": "your messages",
    "all": "everything your account can do",
}


class Html(str):
    """Text that is HTML already: put into a page as it is."""


@cache
def _template(name: str) -> Template:
    return Template((Path(__file__).parent / name).read_text())


def render(name: str, **values: str) -> Html:
    """Return the template `name` filled with these values, escaped unless `Html`."""
    fields = {key: v if isinstance(v, Html) else escape(v) for key, v in values.items()}
    return Html(_template(name).substitute(fields))


def hidden(fields: dict[str, str | None]) -> Html:
    """Return hidden inputs carrying these fields (those that are None are left out)."""
    return Html(
        "\n".join(
            f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
            for name, value in fields.items()
            if value is not None
        )
    )


def scope_list(scopes: list[str]) -> Html:
    return Html("\n".join(f"<li>{escape(SCOPE_TEXT.get(s, s))}</li>" for s in scopes))


def error_note(error: UpareError | None) -> Html:
    """Return the note a page shows for a refused attempt: the document's message."""
    return render("error.html", message=error.message, code=str(error.code)) if error else Html("")


def origin(uri: str) -> str:
    """Return the CSP source of a redirect URI: its origin, or its scheme for other URIs."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    if parts.scheme in ("http", "https") and HOST.fullmatch(host):
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:  # no port a browser could reach
            return f"{parts.scheme}:"
        return f"{parts.scheme}://{host}{port}"
    return f"{parts.scheme}:"


def policy(nonce: str, redirect_uri: str | None) -> str:
    """Return the page's Content-Security-Policy."""
    targets = "'self'" + (f" {origin(redirect_uri)}" if redirect_uri else "")
    return (
        f"default-src 'none'; img-src 'self'; style-src 'nonce-{nonce}'; "
        f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )


def send(
    resp: falcon.Response,
    title: str,
    content: Html,
    *,
    status: int = 200,
    redirect_uri: str | None = None,
) -> None:
    """Answer a page with its protections; `redirect_uri` (once checked) may receive its form."""
    nonce = secrets.token_urlsafe(16)
    resp.status = status
    resp.content_type = "text/html; charset=utf-8"
    resp.text = render("page.html", title=title, nonce=nonce, content=content)
    resp.set_header("Content-Security-Policy", policy(nonce, redirect_uri))
    resp.set_header("X-Frame-Options", "DENY")
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("Cache-Control", "no-store")
    resp.set_header("Referrer-Policy", "no-referrer")
