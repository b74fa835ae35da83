"""Wake a worker that follows the event store when new events are stored."""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager
from typing import Any

from projections.events import EventLog

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 0.02  # SQLite has no NOTIFY: look again this often when idle
LISTEN_SECONDS = 0.25  # PostgreSQL: longest wait for a NOTIFY before looking at `stop` again


class StoreWaker(AbstractContextManager[Any]):
    """Wait for new events in the store: LISTEN/NOTIFY on PostgreSQL, a short poll on SQLite.

    Use it as a context manager around the reading loop, and call it with the loop's `stop`
    event when a read came back with nothing new.
    """

    def __init__(self, log: EventLog) -> None:
        self.recorder: Any = log.recorder
        self.channel: str | None = getattr(self.recorder, "channel_name", None)
        self.listening: Any = None
        self.holder: Any = None

    def __enter__(self) -> StoreWaker:
        if self.channel is not None:  # before the first read, so no NOTIFY falls in between
            self._try_listen()
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def __call__(self, stop: threading.Event) -> None:
        if self.channel is None:
            stop.wait(IDLE_POLL_SECONDS)
            return
        if self.listening is None and not self._try_listen():
            stop.wait(LISTEN_SECONDS)  # the store is out of reach: the loop's read will say so
            return
        try:
            for _ in self.listening.notifies(timeout=LISTEN_SECONDS, stop_after=1):
                pass
        except Exception as ex:  # a lost connection: listen again next time
            log.warning("LISTEN failed, will listen again: %r", ex)
            self._close()

    def _try_listen(self) -> bool:
        try:
            self._listen()
            return True
        except Exception as ex:
            log.warning("cannot LISTEN for new events yet: %r", ex)
            self._close()
            return False

    def _listen(self) -> None:
        from psycopg import sql

        holder = self.recorder.datastore.get_connection()
        self.listening = holder.__enter__()
        self.holder = holder
        self.listening.execute(sql.SQL("LISTEN {}").format(sql.Identifier(str(self.channel))))

    def _close(self) -> None:
        listening, holder, self.listening, self.holder = self.listening, self.holder, None, None
        if holder is None:
            return
        try:
            if listening is not None and not listening.closed:
                listening.execute("UNLISTEN *")
        except Exception as ex:  # a broken connection: the pool discards it
            log.debug("UNLISTEN failed: %r", ex)
        try:
            holder.__exit__(None, None, None)
        except Exception as ex:
            log.debug("returning the LISTEN connection failed: %r", ex)
