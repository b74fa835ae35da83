"""Turn every failure into the envelope, in one place; stack traces go to the log only."""

from __future__ import annotations

import logging
from typing import Any

import falcon

from api.envelope import refuse
from domain.errors import UpareError

log = logging.getLogger(__name__)


def upare_error(req: falcon.Request, resp: falcon.Response, ex: UpareError, _: Any) -> None:
    refuse(req, resp, ex)


def http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, _: Any) -> None:
    """Map Falcon's own errors (routing, methods, media parsing) to the document's codes."""
    if isinstance(ex, falcon.HTTPNotFound):
        error = UpareError(404)
    elif isinstance(ex, falcon.HTTPMethodNotAllowed):
        error = UpareError(200001)
    elif isinstance(ex, falcon.HTTPContentTooLarge):
        error = UpareError(100004, errors={"body": ex.description or "too large"}, status=413)
    elif ex.status_code < 500:
        error = UpareError(100004, errors={"body": ex.description or ex.title})
    else:
        log.error("HTTP error %s: %s", ex.status, ex.description)
        error = UpareError(100001)
    refuse(req, resp, error)


def unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, _: Any) -> None:
    """Log the stack trace and answer `100001 Internal error`."""
    log.exception("unhandled error on %s %s", req.method, req.path)
    refuse(req, resp, UpareError(100001))


def register(app: falcon.App) -> None:
    """Install the handlers; Falcon picks the most specific one for each exception."""
    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(falcon.HTTPError, http_error)
    app.add_error_handler(UpareError, upare_error)
