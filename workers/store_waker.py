"""Wake a worker that follows the event store when new events are stored."""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager
from typing import Any

from commands.store import EventStore

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 0.02  # SQLite has no NOTIFY: look again this often when idle
LISTEN_SECONDS = 0.25  # PostgreSQL: longest wait for a NOTIFY before looking at `stop` again


class StoreWaker(AbstractContextManager[Any]):
    """Wait for new events in the store: LISTEN/NOTIFY on PostgreSQL, a short poll on SQLite.

    Use it as a context manager around the reading loop, and call it with the loop's `stop`
    event when a read came back with nothing new.
    """

    def __init__(self, store: EventStore) -> None:
        self.recorder: Any = store.recorder
        self.channel: str | None = getattr(self.recorder, "channel_name", None)
        self.listening: Any = None
        self.holder: Any = None

    def __enter__(self) -> StoreWaker:
        if self.channel is not None:  # before the first read, so no NOTIFY falls in between
            self._listen()
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def __call__(self, stop: threading.Event) -> None:
        if self.channel is None:
            stop.wait(IDLE_POLL_SECONDS)
            return
        import psycopg

        try:
            if self.listening is None:
                self._listen()
            for _ in self.listening.notifies(timeout=LISTEN_SECONDS, stop_after=1):
                pass
        except psycopg.Error as ex:
            log.warning("LISTEN failed, will listen again: %r", ex)
            self._close()
            stop.wait(IDLE_POLL_SECONDS)

    def _listen(self) -> None:
        from psycopg import sql

        self.holder = self.recorder.datastore.get_connection()
        self.listening = self.holder.__enter__()
        self.listening.execute(sql.SQL("LISTEN {}").format(sql.Identifier(str(self.channel))))

    def _close(self) -> None:
        listening, holder, self.listening, self.holder = self.listening, self.holder, None, None
        if holder is None:
            return
        try:
            if not listening.closed:
                listening.execute("UNLISTEN *")
        finally:
            holder.__exit__(None, None, None)
