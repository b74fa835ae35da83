"""gunicorn's access log for `upare serve` (and the bench's bare app, served alike): the same
lines as gunicorn's own logger, with only the atoms the format names.

gunicorn's `Logger.atoms` builds, for every request, an atom for each request header, each
response header and each WSGI environ entry (about 40), a Common Log Format date, and then
escapes each of them: a twentieth of a fast request's CPU, for 9 atoms the line uses.
"""

from __future__ import annotations

import traceback
from typing import Any

from gunicorn import glogging

# the request id the API sets on every response; the path without its query, which may carry a
# code, a password, an access_token or a captcha answer (CONTRACT 11)
FORMAT = '%(h)s [%({x-request-id}o)s] "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


class AccessLogger(glogging.Logger):
    """gunicorn's logger, building only the atoms of `FORMAT`, escaped as gunicorn's SafeAtoms
    escapes them (`"` as `\\"`), in a plain dict: SafeAtoms' lookups and reading the format
    from gunicorn's configuration cost about as much again as the atoms did."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        try:
            self.access_log.info(FORMAT, self.atoms(resp, req, environ, request_time))
        except Exception:
            self.error(traceback.format_exc())

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
    ) -> dict[str, Any]:
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        request_id = next(
            (value for name, value in resp.headers if name.lower() == "x-request-id"), "-"
        )
        return {
            "h": escaped(environ.get("REMOTE_ADDR", "-")),
            "{x-request-id}o": escaped(request_id),
            "m": escaped(environ.get("REQUEST_METHOD")),
            "U": escaped(environ.get("PATH_INFO")),
            "H": escaped(environ.get("SERVER_PROTOCOL")),
            "s": status,
            "b": "-" if sent is None else str(sent),
            "M": request_time.seconds * 1000 + int(request_time.microseconds / 1000),
            "a": escaped(environ.get("HTTP_USER_AGENT", "-")),
        }


def escaped(value: Any) -> Any:
    """Escape a string atom's quotes, as gunicorn's SafeAtoms does."""
    return value.replace('"', '\\"') if isinstance(value, str) else value
