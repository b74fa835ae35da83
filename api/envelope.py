"""The response envelope of CONTRACT section 2: error_code, api_uri, message, own fields."""

from __future__ import annotations

from typing import Any

import falcon

from commands.application import Done
from domain.errors import ERRORS, UpareError


def api_uri(req: falcon.Request) -> str:
    """Return the request path as the client sent it, without leading and trailing `/`."""
    return getattr(req.context, "sent_path", req.path).strip("/")


def respond(req: falcon.Request, resp: falcon.Response, answer: Done | dict[str, Any]) -> None:
    """Answer success with the endpoint's fields (and the command's position) at the top level."""
    if isinstance(answer, Done):
        fields = dict(answer.fields)
        if answer.position is not None:
            fields["position"] = answer.position
    else:
        fields = answer
    resp.media = {"error_code": 0, "api_uri": api_uri(req), "message": ERRORS[0][0], **fields}


def refuse(req: falcon.Request, resp: falcon.Response, error: UpareError) -> None:
    """Answer a refused request with its code, message and HTTP status."""
    resp.status = error.status
    resp.media = {"error_code": error.code, "api_uri": api_uri(req), "message": error.message}
    if error.errors:
        resp.media["errors"] = error.errors
    for name, value in error.headers.items():
        resp.set_header(name, value)
