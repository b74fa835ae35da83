"""Tell an outage (a database, the cache or Kafka out of reach) from a bug, and ride it out.

An outage is answered `100003` at the API and waited out by the workers, with backoff, until
the service is back; it never parks an event as a dead letter or kills a process. A bug (a
handler that raises, SQL that is wrong) is not an outage.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg_pool
import redis
from eventsourcing import persistence
from kafka import errors as kafka_errors

log = logging.getLogger(__name__)
# what SQLite says when its file cannot be used now, rather than about the statement
SQLITE_OUTAGES = ("database is locked", "unable to open", "disk i/o error", "disk is full")


OUTAGES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
    kafka_errors.BrokerNotAvailableError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    persistence.OperationalError,
    persistence.InterfaceError,
)


def is_outage(ex: BaseException) -> bool:
    """Tell whether an error (or one it was raised from) says a service is out of reach."""
    seen: BaseException | None = ex
    while seen is not None:
        if isinstance(seen, sqlite3.OperationalError):
            return any(text in str(seen).lower() for text in SQLITE_OUTAGES)
        cause = seen.__cause__ or seen.__context__
        if isinstance(seen, OUTAGES) and not isinstance(cause, sqlite3.Error):
            return True
        seen = cause
    return False


class RideOut:
    """Wait out outages around each step of a worker's loop, with doubling pauses."""

    def __init__(
        self, who: str, stop: threading.Event, first: float = 0.1, longest: float = 5.0
    ) -> None:
        self.who = who
        self.stop = stop
        self.first = first
        self.longest = longest
        self.pause = first

    @contextmanager
    def step(self) -> Iterator[None]:
        """Run one step; on an outage log it, wait (doubling up to `longest`) and return."""
        try:
            yield
        except Exception as ex:
            if not is_outage(ex):
                raise
            log.warning(
                "%s: a service is out of reach (%r); again in %.1f s", self.who, ex, self.pause
            )
            self.stop.wait(self.pause)
            self.pause = min(self.pause * 2, self.longest)
        else:
            self.pause = self.first
