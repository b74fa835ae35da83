"""The read models in one SQLite file (the embedded default)."""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from projections.database import Reads, Transaction, Wakeup
from projections.wakeup import POLL_SECONDS, PROGRESS_CHANNEL, Poll


class SqliteTransaction(Transaction):
    """A SQLite transaction; BEGIN IMMEDIATE already serialises writers, so locks are no-ops."""

    dialect = "sqlite"

    def table_exists(self, table: str) -> bool:
        row = self.fetchone(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
            (table,),
        )
        return bool(row and row[0])


class SqliteDB(Reads):
    """Read models in one SQLite file, in WAL mode, one connection per thread."""

    dialect = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA secure_delete=ON")  # an erasure leaves no bytes behind
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Transaction]:
        cursor = self._connection().cursor()
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield SqliteTransaction(cursor)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Hold a lock named `name` across processes while the block runs; yield if it was free."""
        with open(f"{self.path}.{name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True

    def wakeup(self, channel: str = PROGRESS_CHANNEL, poll: float = POLL_SECONDS) -> Wakeup:
        """SQLite has nothing to listen to: waiters look again every `poll` seconds."""
        return Poll(poll)

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
