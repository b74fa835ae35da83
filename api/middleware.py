"""Middleware: request ids, the contract's path rules, and the body size limit."""

from __future__ import annotations

import io
import itertools
import os
import re
import secrets
from typing import Any

import falcon

from upare import logs

PREFIX = re.compile(r"^/apis(?=/|$)", re.IGNORECASE)
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIds:
    """New request ids: 32 hex digits, 16 random ones of this process (drawn again in a forked
    child) and a count; unique without a uuid4's system call on every request."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix, self.count = secrets.token_hex(8), itertools.count()

    def new(self) -> str:
        return f"{self.prefix}{next(self.count):016x}"


IDS = RequestIds()
os.register_at_fork(after_in_child=IDS.reseed)


class RequestContext:
    """Give each request an id (the client's X-Request-ID if sane) and a canonical path.

    Routes are registered in lower case under `/api/`; `/apis/`, any letter case and a
    trailing slash reach the same route (CONTRACT section 1).
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        sent = req.get_header("X-Request-ID") or ""
        req.context.request_id = sent if REQUEST_ID.fullmatch(sent) else IDS.new()
        logs.request_id.set(req.context.request_id)
        req.context.sent_path = req.path
        path = PREFIX.sub("/api", req.path).lower()
        req.path = path.rstrip("/") or "/"

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        """Keep the endpoint's own wording of codes (api-faq.md gives some endpoints theirs), its
        own way to refuse (api/resource.py `Resource.refuse`), and whether it has a responder
        for the method (else falcon answers 405): the later middleware's `responds`."""
        req.context.responds = hasattr(resource, "on_" + req.method.lower())
        req.context.messages = getattr(resource, "messages", {})
        req.context.refuse = getattr(resource, "refuse", None)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool
    ) -> None:
        resp.set_header("X-Request-ID", req.context.request_id)


class BodyLimit:
    """Refuse bodies over the limit before anything reads them (100004, HTTP 413)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def too_large(self) -> falcon.HTTPContentTooLarge:
        return falcon.HTTPContentTooLarge(description=f"the body is over {self.max_bytes} bytes")

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.content_length is not None:
            if req.content_length > self.max_bytes:
                raise self.too_large()
            return
        if req.get_header("Transfer-Encoding"):
            body = req.stream.read(self.max_bytes + 1)
            if len(body) > self.max_bytes:
                raise self.too_large()
            req.stream = io.BytesIO(body)
            req.env["CONTENT_LENGTH"] = str(len(body))
