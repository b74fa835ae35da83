"""Checking the PostgreSQL connections a psycopg pool hands out (the read models' and the
event store's pools both use it)."""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool


def check_connection(connection: psycopg.Connection[Any]) -> None:
    """Check a connection the pool hands out, without a round trip while its socket is quiet.

    An idle connection's socket has nothing to read until the server says something: that it
    is shutting down or has ended the session (a restart, `pg_terminate_backend`), or the
    peer closed it. Only then is the connection asked (psycopg_pool's own check, a round
    trip), and replaced if it fails. The query on a connection that died silently (no word
    from the server) fails as an outage (100003), and the pool drops it.
    """
    if connection.closed or _readable(connection.fileno()):
        ConnectionPool.check_connection(connection)


def _readable(fd: int) -> bool:
    """Tell whether the socket has something to read, at once (poll: `select.select` refuses
    descriptors past 1023, which a long-lived process holding many sockets reaches)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
