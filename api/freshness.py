"""Read-your-writes (CONTRACT section 10): a caller's queries wait until they see its writes.

The caller is whoever presents the same `sid` cookie, bearer token or `access_token`
parameter (hashed with SHA-256 before it is used as a cache key). After a successful command
the middleware remembers the command's `position` for that caller; before a query (a resource
that declares the projections it `reads`) it waits, at most 5 s, until those projections pass
the larger of that position and the query's `min_position`. A query that could not catch up
still answers, with `X-Stale: true`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import falcon

from api.params import Params
from queries.freshness import MAX_WAIT_SECONDS, wait_for
from upare.bootstrap import Container

REMEMBER_SECONDS = 300


def caller_key(req: falcon.Request) -> str | None:
    """Return the cache key of the caller's last write, or None for an anonymous caller."""
    secret = req.cookies.get("sid")
    if not secret:
        scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
        secret = token.strip() if scheme.lower() == "bearer" else ""
    if not secret:
        value = Params(req).values.get("access_token")
        secret = value if isinstance(value, str) else ""
    if not secret:
        return None
    return "ryw:" + hashlib.sha256(secret.encode()).hexdigest()


class ReadYourWrites:
    """Remember each caller's last written position; make its queries wait until they see it."""

    timeout = MAX_WAIT_SECONDS

    def __init__(self, container: Container) -> None:
        self.db = container.db
        self.cache = container.cache
        self.wakeup = container.db.wakeup()

    def remembered(self, key: str | None) -> int:
        """Return the last position this caller wrote (0 when unknown)."""
        value = self.cache.get(key) if key else None
        return int(value) if value else 0

    def catch_up(self, req: falcon.Request, resp: falcon.Response, names: list[str]) -> None:
        """Wait for these projections to pass the caller's writes and `min_position`."""
        if getattr(req.context, "caught_up", False):
            return
        req.context.caught_up = True
        wanted = max(Params(req).integer("min_position") or 0, self.remembered(caller_key(req)))
        if wanted and not wait_for(self.db, names, wanted, self.timeout, self.wakeup):
            resp.set_header("X-Stale", "true")

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        names = list(getattr(resource, "reads", ()))
        if names:
            self.catch_up(req, resp, names)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool
    ) -> None:
        media = resp.media
        if not (succeeded and req.method == "POST" and isinstance(media, dict)):
            return
        position = media.get("position")
        if media.get("error_code") != 0 or not isinstance(position, int):
            return
        key = caller_key(req)
        if key and position > self.remembered(key):
            self.cache.set(key, str(position).encode(), REMEMBER_SECONDS)
