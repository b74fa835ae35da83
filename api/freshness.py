"""Read-your-writes (CONTRACT section 10): a caller's queries wait until they see its writes.

The caller is the one api/callers.py resolved; its identity key (the SHA-256 of its secret)
names its last write in the cache (upare/sessions.py `last_write_key`). After a successful
command the middleware raises the caller's remembered position to the command's `position` (one
atomic cache operation, so it never goes down); before a query (a resource that declares the
projections it `reads`) it waits, at most 5 s, until those projections pass the larger of that
position (`Caller.last_write`, read with the session or token in the same round trip) and the
query's `min_position`. A query that could not catch up still answers, with `X-Stale: true`; so
does one asking for a position the store has not reached (no response ever gave it). A cache
that fails degrades read-your-writes (logged); it never fails a request.
"""

from __future__ import annotations

import logging
from typing import Any

import falcon

from queries.freshness import MAX_WAIT_SECONDS, wait_for
from upare.bootstrap import Container
from upare.sessions import CACHE_FAILURES, last_write_key

log = logging.getLogger(__name__)
REMEMBER_SECONDS = 300


def caller_key(req: falcon.Request) -> str | None:
    """Return the cache key of the caller's last write, or None for an anonymous caller."""
    caller = getattr(req.context, "caller", None)
    return None if caller is None or caller.key is None else last_write_key(caller.key)


class ReadYourWrites:
    """Remember each caller's last written position; make its queries wait until they see it."""

    timeout = MAX_WAIT_SECONDS

    def __init__(self, container: Container) -> None:
        self.db = container.db
        self.reads = container.reads
        self.cache = container.cache
        self.log = container.log
        self.wakeup = container.wakeup

    def catch_up(self, resp: falcon.Response, names: list[str], wanted: int) -> None:
        """Wait for these projections to pass `wanted`, the caller's writes or `min_position`."""
        if wait_for(self.db, names, wanted, 0):  # the usual case: seen already
            return
        # a position the store has not reached would never come: stale at once
        if wanted > self.log.head() or not wait_for(
            self.db, names, wanted, self.timeout, self.wakeup
        ):
            resp.set_header("X-Stale", "true")

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        """Give a query what it reads through (`req.context.reads`): the read models' kept
        answers (projections/read_cache.py), or, when it must see a position, the database
        once the projections have passed it."""
        names = list(getattr(resource, "reads", ()))
        if not (names and req.context.responds):
            return
        wanted = max(req.context.params["min_position"] or 0, req.context.caller.last_write)
        req.context.reads = self.db if wanted else self.reads
        if wanted:
            self.catch_up(resp, names, wanted)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool
    ) -> None:
        position = getattr(req.context, "written", None)
        key = caller_key(req)
        if not (succeeded and key and position):
            return
        try:  # atomic: a concurrent earlier write of this caller never lowers it
            self.cache.raise_to(key, position, REMEMBER_SECONDS)
        except CACHE_FAILURES as ex:
            log.warning("cannot remember the caller's write at %s: %r", position, ex)
