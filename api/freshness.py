"""Read-your-writes for queries: wait for `min_position`, or answer with `X-Stale: true`."""

from __future__ import annotations

import falcon

from api.params import Params
from projections.database import ReadDB
from queries.freshness import wait_for


def catch_up(req: falcon.Request, resp: falcon.Response, db: ReadDB, names: list[str]) -> None:
    """Before a query, wait (bounded) for the projections it reads to pass `min_position`."""
    position = Params(req).integer("min_position")
    if position and not wait_for(db, names, position):
        resp.set_header("X-Stale", "true")
