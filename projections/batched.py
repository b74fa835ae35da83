"""Send a transaction's runs of one repeated write statement as one `executemany`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from projections.database import Row, Transaction


class Batched:
    """A transaction whose consecutive runs of the same write statement go out together.

    A projection's handler writes one event at a time; replaying thousands of events, that is
    one statement per row. Here a run of the same statement waits, and goes out as soon as
    anything else is asked (another statement, a read, or `flush()` at the end): on PostgreSQL
    a run of one-row INSERTs as one `INSERT ... SELECT * FROM unnest(<one array per column>)`
    (several times faster than psycopg's `executemany`; array types follow the Python values,
    so a column that fails to cast fails the run, which is then retried statement by
    statement), anything else through `executemany`. Effects keep the order of the calls.
    But a row that fails makes a later call fail, not its own, and a multi-row `ON CONFLICT DO
    UPDATE` refuses to touch one row twice; so use it only where a failure is then retried
    statement by statement (a rebuild's pages).
    """

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._sql = ""
        self._rows: list[Sequence[Any]] = []

    def flush(self) -> None:
        """Send the pending run of statements."""
        if self._rows:
            self._tx.execute_rows(self._sql, self._rows)
        self._sql, self._rows = "", []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if not params:
            self.flush()
            self._tx.execute(sql)
            return
        if sql != self._sql:
            self.flush()
            self._sql = sql
        self._rows.append(params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.flush()
        self._tx.execute_rows(sql, list(rows))

    def execute_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.flush()
        self._tx.execute_rows(sql, rows)

    def among(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        return self._tx.among(column, values)

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self.flush()
        return self._tx.fetchone(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.flush()
        return self._tx.fetchall(sql, params)
