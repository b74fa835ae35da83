"""Write statements sent together: a rebuild's fast path."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from projections.database import Row, Transaction, copyable, inserted_table


class Batched:
    """A transaction whose write statements wait and go out together.

    A projection's handler writes one event at a time; replaying thousands of events, that is
    one statement per row. Here the rows of a run of the same statement wait, and go out as
    soon as anything else is asked (another statement, a read, or `flush()` at the end): on
    PostgreSQL a run of one-row INSERTs as one `INSERT ... SELECT * FROM unnest(<one array
    per column>)` (several times faster than psycopg's `executemany`; array types follow the
    Python values, so a column that fails to cast fails the run), a run of one-row UPDATEs of
    plain placeholders as one `UPDATE ... FROM unnest(...)` with the latest update of each
    row, anything else through `executemany`. Runs of one-row INSERTs into different tables
    wait side by side (read models have no triggers or foreign keys: they commute). Effects
    keep the order of the calls. On PostgreSQL the runs and statements go out in pipeline
    mode: nothing waits for an answer until a read.

    With `copy` (a generation nobody else reads or writes yet: a rebuild's), a run of plain
    one-row INSERTs, or of INSERTs that do nothing on conflict, goes out as PostgreSQL's COPY,
    about three times faster again, but failing on a row that conflicts instead of skipping it.

    So a row that fails makes a later call fail, not its own, and a multi-row `ON CONFLICT DO
    UPDATE` refuses to touch one row twice; use it only where a failure is then retried
    statement by statement (a rebuild's pages).

    `before_more` is called once, before the first statement that is not such an insert, or
    the first read (a rebuild builds its generation's indexes then: those only COPY skips).
    """

    def __init__(
        self,
        tx: Transaction,
        *,
        copy: bool = False,
        before_more: Callable[[], None] | None = None,
    ) -> None:
        self._tx = tx
        self._copy = copy
        self._before_more = before_more
        self._runs: dict[str, list[Sequence[Any]]] = {}  # statement: its waiting rows
        self._pipeline: AbstractContextManager[Any] | None = None

    def flush(self) -> None:
        """Send the waiting runs of statements, and wait for their answers."""
        self._send()
        self._end_pipeline()

    def _send(self) -> None:
        """Send the waiting runs (in pipeline mode, but for a COPY)."""
        for sql, rows in self._runs.items():
            if self._copy and copyable(sql) and len(rows) > 1:
                self._end_pipeline()  # COPY has no pipeline mode
                self._tx.copy_rows(sql, rows)
            else:
                if not (self._copy and copyable(sql)):
                    self._more()
                if self._pipeline is None:
                    self._pipeline = self._tx.pipeline()
                    self._pipeline.__enter__()
                self._tx.execute_rows(sql, rows)
        self._runs = {}

    def _more(self) -> None:
        """Call `before_more` if it is the first time something other than an insert goes."""
        if self._before_more is not None:
            before_more, self._before_more = self._before_more, None
            before_more()

    def _end_pipeline(self) -> None:
        if self._pipeline is not None:
            pipeline, self._pipeline = self._pipeline, None
            pipeline.__exit__(None, None, None)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if not params:
            self._send()
            self._more()
            self._tx.execute(sql)
            return
        if sql not in self._runs and not self._beside(sql):
            self._send()
        self._runs.setdefault(sql, []).append(params)

    def _beside(self, sql: str) -> bool:
        """Tell whether a run of `sql` may wait beside the runs waiting now: one-row INSERTs
        into tables of their own."""
        table = inserted_table(sql)
        return table is not None and all(
            inserted_table(other) not in (None, table) for other in self._runs
        )

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.execute_rows(sql, list(rows))

    def execute_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if sql not in self._runs and not self._beside(sql):
            self._send()
        self._runs.setdefault(sql, []).extend(rows)

    def among(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        return self._tx.among(column, values)

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._send()  # in pipeline mode the read waits for all before it
        self._more()
        return self._tx.fetchone(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._send()
        self._more()
        return self._tx.fetchall(sql, params)
