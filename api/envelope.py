"""The response envelope of CONTRACT section 2: error_code, api_uri, message, own fields.

Where a resource declares `response_type` (api/params.py RESPONSE_TYPE), `code` answers the
bare error_code as text/plain instead, with the same HTTP status, refusals included.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import falcon
import orjson

from commands.application import Done
from domain.errors import ERRORS, UpareError

RETRY_AFTER_SECONDS = 5  # a 503 is an outage of a backend: worth a retry soon
# JSON responses, written by orjson: an envelope in 0.3 us, not the standard library's 10 us
# (the same JSON, UTF-8, without the spaces); requests are still read by Falcon's default
JSON = falcon.media.JSONHandler(dumps=partial(orjson.dumps, option=orjson.OPT_NON_STR_KEYS))


def api_uri(req: falcon.Request) -> str:
    """Return the request path as the client sent it, without leading and trailing `/`."""
    return getattr(req.context, "sent_path", req.path).strip("/")


def _answer(
    req: falcon.Request, resp: falcon.Response, media: dict[str, Any], bare: bool = True
) -> None:
    if bare and getattr(req.context, "params", {}).get("response_type") == "code":
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = str(media["error_code"])
    else:
        resp.media = media


def respond(req: falcon.Request, resp: falcon.Response, answer: Done | dict[str, Any]) -> None:
    """Answer success with the endpoint's fields (and the command's position) at the top level.

    A command's position is also kept in `req.context.written`, for read-your-writes.
    """
    if isinstance(answer, Done):
        req.context.written = answer.position
        fields = dict(answer.fields)
        if answer.position is not None:
            fields["position"] = answer.position
        answer = fields
    _answer(
        req, resp, {"error_code": 0, "api_uri": api_uri(req), "message": ERRORS[0][0], **answer}
    )


def _message(req: falcon.Request, error: UpareError) -> str:
    """Return the error's message: the endpoint's own wording of its code, if it has one."""
    if error.message != ERRORS[error.code][0]:  # a message of its own (202007's seconds)
        return error.message
    return getattr(req.context, "messages", {}).get(error.code, error.message)


def refuse(
    req: falcon.Request, resp: falcon.Response, error: UpareError, *, bare: bool = True
) -> None:
    """Answer a refused request with its code, message, HTTP status (503: `Retry-After`) and
    the fields it still carries; not `bare` where `response_type=code` is OAuth's code flow."""
    resp.status = error.status
    if error.status == 503:
        resp.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
    media: dict[str, Any] = {
        "error_code": error.code,
        "api_uri": api_uri(req),
        "message": _message(req, error),
        **error.fields,
    }
    if error.errors:
        media["errors"] = error.errors
    _answer(req, resp, media, bare)
    for name, value in error.headers.items():
        resp.set_header(name, value)
