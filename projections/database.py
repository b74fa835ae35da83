"""The read-model database: one small interface over SQLite (`projections.sqlite`) and
PostgreSQL (`projections.postgres`).

SQL is written once with `?` placeholders and `ON CONFLICT` upserts, which both engines speak.
Whatever the engines do differently (placeholders, row locks, advisory locks, NOTIFY, bulk
inserts, table lookups) lives in their two classes, never in `if dialect` branches elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from typing import Any, ClassVar, Protocol

Row = tuple[Any, ...]
# One row of plain placeholders: INSERT INTO t (a, b) VALUES (?, ?) [ON CONFLICT ...]
ONE_ROW_INSERT = re.compile(r"(INSERT INTO .+? VALUES\s*)(\([?,\s]+\))(.*)", re.I | re.S)
INSERTED = re.compile(r"INSERT INTO (\S+)", re.I)
# what may follow a one-row INSERT that COPY does as well: nothing, or skipping a conflict
COPYABLE_TAIL = re.compile(r"\s*(ON CONFLICT\s*\([^)]*\)\s*DO NOTHING\s*)?", re.I)


@lru_cache(maxsize=1024)
def inserted_table(sql: str) -> str | None:
    """Return the table a one-row INSERT of plain placeholders writes (None for others)."""
    insert = ONE_ROW_INSERT.fullmatch(sql)
    table = INSERTED.match(sql.lstrip())
    return None if insert is None or table is None else table.group(1)


@lru_cache(maxsize=1024)
def copyable(sql: str) -> bool:
    """Tell whether a run of this statement can go as a COPY: a one-row INSERT of plain
    placeholders that does nothing more on conflict than skip the row (COPY fails instead)."""
    insert = ONE_ROW_INSERT.fullmatch(sql)
    return insert is not None and COPYABLE_TAIL.fullmatch(insert.group(3)) is not None


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> list[Row]: ...
    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...


class Transaction:
    """One read-model transaction: statements run together or not at all."""

    dialect: ClassVar[str]
    for_update: ClassVar[str] = ""  # the suffix that locks the rows a SELECT reads
    skip_locked: ClassVar[str] = ""  # ... or that takes only rows nobody else has locked

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def _sql(self, sql: str) -> str:
        """Return the statement in the driver's own placeholder style."""
        return sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._cursor.executemany(self._sql(sql), rows)

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._cursor.execute(self._sql(sql), params)
        return self._cursor.fetchone()

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cursor.execute(self._sql(sql), params)
        return self._cursor.fetchall()

    def columns(self, table: str) -> list[str]:
        """Return the names of a table's columns, in their order (the DB-API's description)."""
        self._cursor.execute(f"SELECT * FROM {table} LIMIT 0")
        return [column[0] for column in self._cursor.description or ()]

    def among(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """Return a condition that `column` is one of these strings, and its parameters."""
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)

    def execute_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row (a one-row INSERT goes in bulk where the engine can)."""
        self.executemany(sql, rows)

    def copy_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Insert the rows of a one-row INSERT the fastest way the engine has (`copyable`)."""
        self.execute_rows(sql, rows)

    def refill(self, table: str, *selects: str) -> None:
        """Replace all of a table's rows with the queries' (parts of one result, none sharing
        a row), the fastest way the engine has (a rebuild's derived table, which nobody reads
        until its switch). Here: DELETE, then an INSERT ... SELECT a query, into the table's
        keys and indexes as they are."""
        self.execute(f"DELETE FROM {table}")
        for select in selects:
            self.execute(f"INSERT INTO {table} {select}")

    def drop_indexes(self, table: str) -> list[str]:
        """Drop the table's indexes that check nothing (not unique, not a constraint's) and
        return the statements that build them again, where the engine builds an index from
        a loaded table faster than it keeps it row by row. Here: none dropped."""
        return []

    def pipeline(self) -> AbstractContextManager[Any]:
        """Send statements without waiting for each one's answer, until a read or the block's
        end (PostgreSQL's pipeline mode; elsewhere the statements run as they come). A failing
        statement then fails a later call, not its own (see `projections.batched`)."""
        return nullcontext()

    def commit_lazily(self) -> None:
        """Let this transaction's commit return before it is on disk, where the engine can
        (PostgreSQL: `synchronous_commit = off` for this transaction alone; SQLite: nothing).
        Only for writes that matter once a later, durable commit of the same database has
        made them durable too (its WAL is flushed in order): a rebuild's pages, whose
        generation nobody reads before the switch commits; a crash before it leaves a
        generation that the next rebuild drops."""

    def bulk_settings(self) -> None:
        """Give the rest of this transaction the settings of bulk work, where the engine has
        any: a rebuild's refills and its load's end, which sort, group and index whole
        tables (PostgreSQL: the memory of `postgres.BULK_WORK_MEM`; SQLite: nothing)."""

    def lock_exclusive(self, key: int) -> None:
        """Keep other writers of `key` out until this transaction ends (DDL at install)."""

    def notify(self, channel: str) -> None:
        """Wake the listeners of `channel` once this transaction commits (where supported)."""

    def table_exists(self, table: str) -> bool:
        raise NotImplementedError


class Wakeup(Protocol):
    @property
    def listening(self) -> bool: ...
    def mark(self) -> int: ...
    def wait(self, mark: int, timeout: float) -> None: ...


class Reader(Protocol):
    """What a query reads through: single-statement reads (a `ReadDB`, or its
    `projections.read_cache.ReadCache`)."""

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]: ...


class ReadDB(Protocol):
    dialect: str

    def transaction(self, write: bool = True) -> AbstractContextManager[Transaction]: ...
    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def table_exists(self, table: str) -> bool: ...
    def refill(self, table: str, parts: Sequence[str]) -> None: ...
    def side_by_side(self, works: Sequence[Callable[[], None]]) -> None: ...
    def exclusive(self, name: str) -> AbstractContextManager[bool]: ...
    def wakeup(self, channel: str = ..., poll: float = ...) -> Wakeup: ...
    def close(self) -> None: ...


class Reads:
    """Single-statement reads, each in its own short transaction."""

    def transaction(self, write: bool = True) -> AbstractContextManager[Transaction]:
        raise NotImplementedError

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self.transaction(write=False) as tx:
            return tx.fetchone(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.transaction(write=False) as tx:
            return tx.fetchall(sql, params)

    def table_exists(self, table: str) -> bool:
        """Tell whether a table (or view) exists in the read-model database."""
        with self.transaction(write=False) as tx:
            return tx.table_exists(table)

    def refill(self, table: str, parts: Sequence[str]) -> None:
        """Replace all of a table's rows with the rows of these queries (parts of one result,
        none sharing a row), in a table nobody reads until a later durable commit (a
        rebuild's derived table). Here: in one transaction, the parts one after the other
        (`Transaction.refill`)."""
        with self.transaction() as tx:
            tx.commit_lazily()
            tx.refill(table, *parts)

    def side_by_side(self, works: Sequence[Callable[[], None]]) -> None:
        """Run these pieces of work, independent of each other and each in transactions of
        its own, at once where the engine has writers side by side; raise the first one's
        error once all have ended. Here (SQLite: one writer at a time), one after the other,
        the first error ending them."""
        for work in works:
            work()
