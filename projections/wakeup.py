"""Tell waiting queries when to look at the watermarks again: on NOTIFY, or after a short poll.

The read-model database picks one (`ReadDB.wakeup()`).
"""

from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)
POLL_SECONDS = 0.005
PROGRESS_CHANNEL = "upare_projections"  # NOTIFY'd by the feeds when positions move


class Poll:
    """Look again every few milliseconds (SQLite, where there is nothing to listen to)."""

    listening = False  # no wake-up ever tells that the read models moved

    def __init__(self, interval: float = POLL_SECONDS) -> None:
        self.interval = interval

    def mark(self) -> int:
        """Return a mark to wait from (always 0: polls have no events to count)."""
        return 0

    def wait(self, mark: int, timeout: float) -> None:
        """Sleep a poll interval, or less when the timeout is nearer."""
        time.sleep(max(0.0, min(timeout, self.interval)))


class Listen:
    """Wake on the feeds' NOTIFY (`catalog.notify_progress`), over one connection per process.

    The first waiter opens the listening connection in a background thread, which closes it
    after IDLE_SECONDS without waiters. While it is not listening (starting, or reconnecting
    after a failure, with backoff) waiters poll; while it listens they still look again every
    SAFETY_SECONDS, a net for a feed that does not NOTIFY.
    """

    IDLE_SECONDS = 10.0
    SAFETY_SECONDS = 0.05

    def __init__(self, url: str, channel: str = PROGRESS_CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self._cond = threading.Condition()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()  # a forked child starts afresh: the thread stayed in the parent
        self._count = 0
        self._listening = False
        self._thread: threading.Thread | None = None
        self._last_wait = 0.0
        self._retry_at = 0.0
        self._pause = 0.1
        self._closed = False

    @property
    def listening(self) -> bool:
        """Tell whether every NOTIFY since the listener last (re)started is counted: each
        one, and each start and stop of the listener, moves the mark."""
        return self._listening

    def mark(self) -> int:
        """Return the number of wake-ups so far, starting the listener if it is not running."""
        with self._cond:
            if self._pid != os.getpid():
                self._reset()
            self._last_wait = now = time.monotonic()
            if self._thread is None and now >= self._retry_at:
                self._thread = threading.Thread(target=self._run, name="upare-listen", daemon=True)
                self._thread.start()
            return self._count

    def wait(self, mark: int, timeout: float) -> None:
        """Block until a wake-up after `mark`, the next look, or the timeout."""
        with self._cond:
            self._last_wait = time.monotonic()
            look = self.SAFETY_SECONDS if self._listening else POLL_SECONDS
            self._cond.wait_for(lambda: self._count != mark, timeout=max(0.0, min(timeout, look)))

    def close(self) -> None:
        """Stop listening (within a second); later waiters poll."""
        with self._cond:
            self._closed = True
            self._retry_at = float("inf")

    def _wake(self, listening: bool | None = None) -> None:
        with self._cond:
            if listening is not None and self._thread in (None, threading.current_thread()):
                self._listening = listening
            self._count += 1
            self._cond.notify_all()

    def _idle(self) -> bool:
        """Tell whether nobody waited lately; if so, let the next waiter start a new thread."""
        with self._cond:
            if not self._closed and time.monotonic() - self._last_wait < self.IDLE_SECONDS:
                return False
            self._thread = None
            return True

    def _run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as connection:
                connection.execute(f"LISTEN {self.channel}")
                self._wake(listening=True)  # look again: a NOTIFY may have come before LISTEN
                self._pause = 0.1
                while True:
                    for _ in connection.notifies(timeout=1.0):
                        self._wake()
                    if self._idle():
                        return
        except Exception as ex:  # the thread must end cleanly; waiters fall back to polling
            if not self._closed:
                log.warning("listening on %s failed: %s", self.channel, type(ex).__name__)
            with self._cond:
                self._retry_at = time.monotonic() + self._pause
                self._pause = min(self._pause * 2, 5.0)
                self._thread = None
        finally:
            self._wake(listening=False)
