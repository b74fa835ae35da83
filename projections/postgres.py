"""The read models in PostgreSQL: transactions through a psycopg 3 connection pool, single
statement reads on a connection of the reading thread's own."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache, partial
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from projections.database import ONE_ROW_INSERT, Reads, Row, Transaction, Wakeup
from projections.wakeup import POLL_SECONDS, PROGRESS_CHANNEL, Listen
from upare.connections import check_connection

ADVISORY_CLASS = 7261000  # pg advisory locks taken by `exclusive`: (class, hashtext(name))
CONSTRAINTS = {"p": "PRIMARY KEY", "u": "UNIQUE"}  # pg_constraint.contype: made of an index
BULK_WORK_MEM = "256MB"  # bulk work's memory for a sort, a hash or an index build
ARRAY_TYPES = {bool: "boolean[]", int: "bigint[]", float: "double precision[]"}
# a quoted literal or identifier (kept whole), a `?` placeholder, or a `%`
# One row's update of plain placeholders: UPDATE t SET a = ?, b = ? WHERE c = ? AND d = ?
ONE_ROW_UPDATE = re.compile(
    r"\s*UPDATE\s+(\w+)\s+SET\s+(\w+\s*=\s*\?(?:\s*,\s*\w+\s*=\s*\?)*)"
    r"\s+WHERE\s+(\w+\s*=\s*\?(?:\s+AND\s+\w+\s*=\s*\?)*)\s*",
    re.I,
)
ASSIGNED = re.compile(r"(\w+)\s*=\s*\?")
TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%")


@lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """Turn `?` placeholders into psycopg's `%s`, leaving any `?` in quotes, and escape `%`."""

    def swap(match: re.Match[str]) -> str:
        piece = match.group()
        return "%s" if piece == "?" else piece.replace("%", "%%")

    return TOKENS.sub(swap, sql)


def _array_type(column: list[Any]) -> str:
    """Return the PostgreSQL array type for a column of Python values (text by default)."""
    sample = next((value for value in column if value is not None), "")
    return ARRAY_TYPES.get(type(sample), "text[]")


def _scalar(value: Any) -> str:
    """Return the placeholder for one value, cast to the type its array would have."""
    return f"?::{_array_type([value])[:-2]}"


class PostgresTransaction(Transaction):
    dialect = "postgres"
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def _sql(self, sql: str) -> str:
        return to_psycopg(sql)

    def among(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """One array parameter: a short statement for any number of values."""
        return f"{column} = ANY(?::text[])", [list(values)]

    def execute_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Send the rows of a one-row INSERT or UPDATE of plain placeholders in one short
        statement, one array per column through `unnest` (`_insert_rows`, `_update_rows`);
        anything else through `executemany`.

        Thousands of placeholders cost psycopg more to build and parse than the server to
        write, and a statement per row costs the server a parse and plan each; array types
        follow the Python values, so a column that fails to cast fails the statement.
        """
        if len(rows) > 1:
            if insert := ONE_ROW_INSERT.fullmatch(sql):
                self._insert_rows(insert, rows)
                return
            if update := ONE_ROW_UPDATE.fullmatch(sql):
                self._update_rows(update, rows)
                return
        self.executemany(sql, rows)

    def _insert_rows(self, insert: re.Match[str], rows: Sequence[Sequence[Any]]) -> None:
        """`INSERT ... SELECT ... FROM unnest(...)`; a column with one value in every row (a
        tracking upsert's projection and generation) goes as that value alone, dumping an
        array costing psycopg per element."""
        head, _values, tail = insert.groups()
        columns = [list(column) for column in zip(*rows, strict=True)]
        same = [column.count(column[0]) == len(column) for column in columns]
        same[-1] = same[-1] and not all(same)  # unnest needs one array at least
        picks = [
            f"u.c{n}" if not alone else "NULL" if column[0] is None else _scalar(column[0])
            for n, (column, alone) in enumerate(zip(columns, same, strict=True))
        ]  # NULL as such: a NULL cast to text would not go into a column of another type
        arrays = [n for n, alone in enumerate(same) if not alone]
        marks = ", ".join(f"?::{_array_type(columns[n])}" for n in arrays)
        names = ", ".join(f"c{n}" for n in arrays)
        select = head.rstrip()[: -len("VALUES")]
        select += f"SELECT {', '.join(picks)} FROM unnest({marks}) AS u({names})"
        params = [
            column[0]
            for column, alone in zip(columns, same, strict=True)
            if alone and column[0] is not None
        ]
        self.execute(select + tail, params + [columns[n] for n in arrays])

    def _update_rows(self, update: re.Match[str], rows: Sequence[Sequence[Any]]) -> None:
        """`UPDATE ... FROM unnest(...)`, with the effect of the updates run one by one.

        The conditions are equalities, so rows whose condition values differ pick apart
        table rows, and rows with the same ones pick the same: of these only the last is
        sent (its values are what the run leaves; `UPDATE ... FROM` would apply just one of
        several matches, not saying which). Again a column with one value goes alone.
        """
        table, sets, where = update.groups()
        assigned, compared = ASSIGNED.findall(sets), ASSIGNED.findall(where)
        last = {tuple(row[len(assigned) :]): row for row in rows}  # by condition: the latest
        if len(last) == 1:
            self.execute(update.group(0), next(iter(last.values())))
            return
        columns = [list(column) for column in zip(*last.values(), strict=True)]
        alone = [column.count(column[0]) == len(column) for column in columns]
        picks = ["?" if one else f"u.c{n}" for n, one in enumerate(alone)]
        arrays = [n for n, one in enumerate(alone) if not one]
        marks = ", ".join(f"?::{_array_type(columns[n])}" for n in arrays)
        names = ", ".join(f"c{n}" for n in arrays)
        sets = ", ".join(f"{name} = {pick}" for name, pick in zip(assigned, picks, strict=False))
        where = " AND ".join(
            f"{table}.{name} = {pick}"
            for name, pick in zip(compared, picks[len(assigned) :], strict=True)
        )
        scalars = [(n, column[0]) for n, column in enumerate(columns) if alone[n]]
        self.execute(  # the placeholders' order: SET's values, the arrays, WHERE's values
            f"UPDATE {table} SET {sets} FROM unnest({marks}) AS u({names}) WHERE {where}",
            [value for n, value in scalars if n < len(assigned)]
            + [columns[n] for n in arrays]
            + [value for n, value in scalars if n >= len(assigned)],
        )

    def copy_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """COPY the rows in (text format, formatted by psycopg's C code): a row that conflicts
        fails the COPY, where the INSERT would have skipped it."""
        insert = ONE_ROW_INSERT.fullmatch(sql)
        assert insert is not None, sql
        head = insert.group(1).strip()[: -len("VALUES")].strip()
        with self._cursor.copy(f"COPY {head[len('INSERT INTO ') :]} FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)

    def refill(self, table: str, *selects: str) -> None:
        """Drop the table's keys and indexes (`unkey`), insert, then build them again (`key`)."""
        builds, attaches = self.unkey(table)
        for select in selects:
            self.execute(f"INSERT INTO {table} {select}")
        self.key(builds + attaches)

    def unkey(self, table: str) -> tuple[list[str], list[str]]:
        """TRUNCATE the table and drop its constraints and indexes; return the statements
        that build them again (`key`): the indexes, the constraints' too, each of which can
        be built beside the others (`PostgresDB.refill`), then the constraints made of
        theirs (`ADD CONSTRAINT ... USING INDEX`).

        Building an index from the whole table at once (one sort) is several times cheaper
        than keeping it row by row during the insert: the recommendations counts of 50,000 skewed
        friendships (2M rows, both orders of each pair, then) went in in 22 s instead of 38 on a
        loaded machine. The definitions are the server's own (`pg_get_constraintdef`,
        `pg_indexes`), so the rebuilt table is the table it was.

        For this transaction alone, sorts, hashes and index builds get the memory to run
        without spilling to disk (the defaults, 4 MB and 64 MB, are sized for many sessions,
        not for one statement deriving a million rows): about a quarter less time for the
        recommendations counts. Memoize is off: a derived table's join looks each key up
        once, and caching the lookups only cost (the counts' SELECT 0.72 s against 1.0-1.05).
        """
        self.bulk_settings()
        constraints = self.fetchall(
            "SELECT conname, contype, pg_get_indexdef(conindid) FROM pg_constraint"
            " WHERE conrelid = ?::regclass AND contype IN ('p', 'u')",
            (table,),
        )
        indexes = self._indexes(table)
        self.execute(f"TRUNCATE {table}")
        for name, _ in indexes:
            self.execute(f'DROP INDEX "{name}"')
        for name, _, _ in constraints:
            self.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        builds = [index for _, _, index in constraints] + [index for _, index in indexes]
        attaches = [
            f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {CONSTRAINTS[kind]} USING INDEX "{name}"'
            for name, kind, _ in constraints
        ]
        return builds, attaches

    def key(self, keys: list[str]) -> None:
        """Build a refilled table's constraints and indexes again (`unkey`)."""
        self.bulk_settings()
        for statement in keys:
            self.execute(statement)

    def bulk_settings(self) -> None:
        """Give this transaction's sorts, hashes and index builds memory for bulk work (the
        defaults, 4 MB and 64 MB, spill a million rows to disk) and no Memoize (`unkey`)."""
        self.execute(f"SET LOCAL work_mem = '{BULK_WORK_MEM}'")
        self.execute(f"SET LOCAL maintenance_work_mem = '{BULK_WORK_MEM}'")
        self.execute("SET LOCAL enable_memoize = off")

    def drop_indexes(self, table: str) -> list[str]:
        """Drop the table's indexes that check nothing (neither a constraint's nor unique) and
        return their definitions, the server's own (`pg_indexes`): a rebuild's fresh
        generation loads without them and builds each in one sort after
        (`projections.copier.Copier`)."""
        indexes = self._indexes(table, unique=False)
        for name, _ in indexes:
            self.execute(f'DROP INDEX "{name}"')
        return [definition for _, definition in indexes]

    def _indexes(self, table: str, unique: bool = True) -> list[Row]:
        """Return the name and definition of the table's indexes that no constraint owns
        (with `unique` False, only those that are not unique either)."""
        return self.fetchall(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = ? AND indexname NOT IN"
            " (SELECT conname FROM pg_constraint WHERE conrelid = ?::regclass)"
            + ("" if unique else " AND indexdef NOT LIKE 'CREATE UNIQUE INDEX %'"),
            (table, table),
        )

    def pipeline(self) -> AbstractContextManager[Any]:
        return self._cursor.connection.pipeline()  # type: ignore[attr-defined]

    def commit_lazily(self) -> None:
        self.execute("SET LOCAL synchronous_commit = off")

    def lock_exclusive(self, key: int) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (key,))

    def notify(self, channel: str) -> None:
        self.execute(f"NOTIFY {channel}")

    def table_exists(self, table: str) -> bool:
        row = self.fetchone("SELECT to_regclass(?) IS NOT NULL", (table,))
        return bool(row and row[0])


class PostgresDB(Reads):
    """Read models in PostgreSQL: a psycopg 3 connection pool for transactions, and for the
    single-statement reads of queries one autocommit connection per reading thread.

    A read is most of a query's time on the request path, and a pool checkout and return
    (locks, a condition, the check) cost about as much CPU as psycopg's own work for the
    statement: a serving thread keeps its connection, as a gunicorn thread keeps its socket.
    """

    dialect = "postgres"

    def __init__(self, url: str, max_size: int = 8) -> None:
        self.url = url
        # No server-side prepared statements: psycopg prepares a query after five runs, and the
        # generic plan of `originator_id IN (?, ...)` (tracking lookups) scans the whole table:
        # measured 137 ms per 500-id lookup at 20k tracked aggregates, a rebuild at 6k events/s
        # instead of 17k/s. Autocommit: `transaction` opens its own, and a single-statement
        # read is one round trip, not BEGIN, SELECT and COMMIT.
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=True,
            timeout=5,
            kwargs={"prepare_threshold": None, "connect_timeout": 5, "autocommit": True},
            check=check_connection,
        )
        self._readers: dict[threading.Thread, psycopg.Cursor[Any]] = {}
        self._readers_lock = threading.Lock()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Transaction]:
        with self._transaction() as tx:
            yield tx

    @contextmanager
    def _transaction(self) -> Iterator[PostgresTransaction]:
        with self.pool.connection() as connection, connection.transaction():
            yield PostgresTransaction(connection.cursor())

    def reader(self) -> psycopg.Cursor[Any]:
        """Return this thread's read cursor, on its own connection (autocommit), opened on its
        first read, or again after it broke; the connections of threads that ended are closed
        then.

        Its statements are prepared on their first run (psycopg keeps the last 100): parsing
        and planning `info`'s lookup through the generation's view was two thirds of the
        PostgreSQL backend's CPU (134 µs a read, 46 prepared; psycopg's own 98 µs, 75). The
        queries' reads select named columns by key (no `IN` lists, whose generic plans the
        pool's connections avoid, above), and a rebuild's switch of a view makes PostgreSQL
        plan the statement again. One cursor serves every read of the thread (each read's rows
        are fetched before the next): `connection.execute` builds a cursor, its adapters and
        its state for each statement.
        """
        thread = threading.current_thread()
        cursor = self._readers.get(thread)
        if cursor is not None and not cursor.connection.closed:
            return cursor
        connection = psycopg.connect(
            self.url, autocommit=True, prepare_threshold=0, connect_timeout=5
        )
        with self._readers_lock:
            for ended in [other for other in self._readers if not other.is_alive()]:
                self._readers.pop(ended).connection.close()
            cursor = self._readers[thread] = connection.cursor()
        return cursor

    def read(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        """Run one read statement on this thread's cursor (autocommit): one round trip.

        A connection the server ended while it was idle (a restart, `pg_terminate_backend`)
        fails the statement and is closed: the read runs once more on a new one (a read is
        safe to repeat), with no check before each read (`check_connection`'s system call);
        a server that is down fails that one too, as an outage.
        """
        cursor = self.reader()
        try:
            return cursor.execute(to_psycopg(sql), params)
        except psycopg.OperationalError:
            if not cursor.connection.closed:
                raise
        return self.reader().execute(to_psycopg(sql), params)

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Run one read statement on its own (autocommit): one round trip."""
        return self.read(sql, params).fetchone()

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one read statement on its own (autocommit): one round trip."""
        return self.read(sql, params).fetchall()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Hold a session advisory lock named `name` while the block runs; yield if it was free."""
        key = (ADVISORY_CLASS, name)
        with self.pool.connection() as connection:
            row = connection.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", key)
            taken = bool(row.fetchone()[0])  # type: ignore[index]
            connection.commit()
            try:
                yield taken
            finally:
                if taken:
                    connection.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)
                    connection.commit()

    def refill(self, table: str, parts: Sequence[str]) -> None:
        """Replace the table's rows with the parts', each inserted in a transaction of its
        own, side by side: one INSERT ... SELECT runs on one core of the server (PostgreSQL
        plans no parallel workers for an INSERT). Its keys and indexes are dropped in a
        transaction before and built after, each index side by side with the others, then
        the constraints made of theirs (`PostgresTransaction.unkey`); all commit lazily. The
        recommendations counts of the social benchmark (990,899 rows) in two parts on two
        cores: 3.1-3.6 s with their keys, against 4.7-5.6 in one; their two indexes, side by
        side: 0.87-1.05 s, against 1.13 one after the other.
        """
        with self._transaction() as tx:
            tx.commit_lazily()
            builds, attaches = tx.unkey(table)

        def run(statement: str) -> None:
            with self._transaction() as tx:
                tx.commit_lazily()
                tx.bulk_settings()
                tx.execute(statement)

        self.side_by_side([partial(run, f"INSERT INTO {table} {part}") for part in parts])
        self.side_by_side([partial(run, statement) for statement in builds])
        with self._transaction() as tx:
            tx.commit_lazily()
            tx.key(attaches)

    def side_by_side(self, works: Sequence[Callable[[], None]]) -> None:
        """Run these pieces of work at once, each on a thread (and so a connection) of its
        own: PostgreSQL runs each backend on a core of its own. No work is nothing to do (a
        refilled table with no index to build)."""
        with ThreadPoolExecutor(max(1, len(works)), thread_name_prefix="side-by-side") as pool:
            for done in [pool.submit(work) for work in works]:
                done.result()

    def wakeup(self, channel: str = PROGRESS_CHANNEL, poll: float = POLL_SECONDS) -> Wakeup:
        """Wake on the NOTIFY of `channel` (see `projections.wakeup.Listen`)."""
        return Listen(self.url, channel)

    def close(self) -> None:
        with self._readers_lock:
            for cursor in self._readers.values():
                cursor.connection.close()
            self._readers.clear()
        self.pool.close()
