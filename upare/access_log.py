"""gunicorn's access log for `upare serve` (and the bench's bare app, served alike): the same
lines as gunicorn's own logger, with only the atoms the format names.

gunicorn's `Logger.atoms` builds, for every request, an atom for each request header, each
response header and each WSGI environ entry (about 40), a Common Log Format date, and then
escapes each of them: a twentieth of a fast request's CPU, for 9 atoms the line uses.
"""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

# the request id the API sets on every response; the path without its query, which may carry a
# code, a password, an access_token or a captcha answer (CONTRACT 11)
FORMAT = '%(h)s [%({x-request-id}o)s] "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


class AccessLogger(glogging.Logger):
    """gunicorn's logger, building only the atoms of `FORMAT` (gunicorn's SafeAtoms escapes
    them and answers `-` for a missing one, as before)."""

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
    ) -> dict[str, Any]:
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        atoms = {
            "h": environ.get("REMOTE_ADDR", "-"),
            "m": environ.get("REQUEST_METHOD"),
            "U": environ.get("PATH_INFO"),
            "H": environ.get("SERVER_PROTOCOL"),
            "s": status,
            "b": "-" if sent is None else str(sent),
            "M": request_time.seconds * 1000 + int(request_time.microseconds / 1000),
            "a": environ.get("HTTP_USER_AGENT", "-"),
        }
        for name, value in resp.headers:
            if name.lower() == "x-request-id":
                atoms["{x-request-id}o"] = value
        return atoms
