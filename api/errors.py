"""Turn every failure into the envelope, in one place; stack traces go to the log only.

A store, read-model database or cache that cannot answer is an outage, not a bug: it answers
`100003 Database error` with HTTP 503 (and `Retry-After`, as every 503), never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

import falcon

from api.envelope import refuse
from domain.errors import UpareError
from upare.outages import is_outage

log = logging.getLogger(__name__)


def upare_error(req: falcon.Request, resp: falcon.Response, ex: UpareError, _: Any) -> None:
    """Refuse as the resource does (its own `refuse`, once routed), else in the envelope."""
    (getattr(req.context, "refuse", None) or refuse)(req, resp, ex)


def http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, _: Any) -> None:
    """Map Falcon's own errors (routing, methods, media parsing) to the document's codes.

    Falcon's headers are kept: a 405 carries `Allow` (RFC 9110).
    """
    headers = dict(ex.headers or {})
    if isinstance(ex, falcon.HTTPNotFound):
        error = UpareError(404, headers=headers)
    elif isinstance(ex, falcon.HTTPMethodNotAllowed):
        error = UpareError(200001, headers=headers)
    elif isinstance(ex, falcon.HTTPContentTooLarge):
        reason = ex.description or "too large"
        error = UpareError(100004, errors={"body": reason}, headers=headers, status=413)
    elif ex.status_code < 500:
        reason = ex.description or ex.title
        error = UpareError(100004, errors={"body": reason}, headers=headers)
    else:
        log.error("HTTP error %s: %s", ex.status, ex.description)
        error = UpareError(100001)
    refuse(req, resp, error)


def unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, _: Any) -> None:
    """Log the stack trace; answer `100003` (503) for an outage, else `100001 Internal error`."""
    if is_outage(ex):
        log.error("a backend failed on %s %s: %r", req.method, req.path, ex, exc_info=ex)
        refuse(req, resp, UpareError(100003))
        return
    log.exception("unhandled error on %s %s", req.method, req.path)
    refuse(req, resp, UpareError(100001))


def register(app: falcon.App) -> None:
    """Install the handlers; Falcon picks the most specific one for each exception."""
    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(falcon.HTTPError, http_error)
    app.add_error_handler(UpareError, upare_error)
