"""Compare two generations of a projection, table by table, inside one transaction.

A verified rebuild (`projections.rebuild`) compares the live generation with the new one at
the switch, where both hold the same events: per table the row counts, a checksum, and, when
they differ, how many rows differ and a few of them by their primary key.

The checksum is the sum (mod 2**128) of a SHA-256 per row of the row's values as JSON, read
in pages in key order. A sum does not depend on the order the rows come in, so the same rows
give the same checksum on SQLite and PostgreSQL (whose text orders differ); the read-model
columns are TEXT and INTEGER, which both drivers return as `str` and `int`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from projections.base import Projection
from projections.database import Row, Transaction

PAGE = 1000  # rows read at once for a checksum
SAMPLE = 5  # differing rows shown per table
TOP_LEVEL_COMMA = re.compile(r",(?![^()]*\))")


@dataclass(frozen=True)
class Difference:
    """One key whose row differs: its values in each generation (None: no such row there)."""

    key: dict[str, Any]
    live: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass(frozen=True)
class TableComparison:
    """One table in both generations. `differing` counts the keys whose rows differ."""

    table: str
    live_rows: int
    new_rows: int
    live_checksum: str
    new_checksum: str
    differing: int = 0
    sample: list[Difference] = field(default_factory=list)
    note: str = ""  # why rows could not be compared (a table or columns only one side has)

    @property
    def matches(self) -> bool:
        return not self.note and (self.live_rows, self.live_checksum) == (
            self.new_rows,
            self.new_checksum,
        )


@dataclass(frozen=True)
class Comparison:
    """Two generations of one projection compared at one position of the event store."""

    name: str
    live_generation: int
    new_generation: int
    position: int
    tables: list[TableComparison]

    @property
    def matches(self) -> bool:
        return all(table.matches for table in self.tables)


def primary_key(definition: str) -> list[str]:
    """Return the primary key's columns from a table's column definitions."""
    for part in (piece.strip() for piece in TOP_LEVEL_COMMA.split(definition)):
        if part.upper().startswith("PRIMARY KEY"):
            inside = part[part.index("(") + 1 : part.rindex(")")]
            return [column.strip() for column in inside.split(",")]
        if "PRIMARY KEY" in part.upper():
            return [part.split()[0]]
    raise ValueError(f"no primary key in {definition!r}: rows cannot be told apart")


def checksum(tx: Transaction, table: str, columns: list[str], key: list[str]) -> tuple[int, str]:
    """Return a table's row count and checksum, reading it a page at a time in key order."""
    select, keys = f"SELECT {', '.join(columns)} FROM {table}", ", ".join(key)
    at = [columns.index(column) for column in key]
    count, total, after = 0, 0, None
    while True:
        where = "" if after is None else f" WHERE ({keys}) > ({', '.join('?' * len(key))})"
        rows = tx.fetchall(f"{select}{where} ORDER BY {keys} LIMIT {PAGE}", after or ())
        for row in rows:
            line = json.dumps(list(row), default=str, separators=(",", ":"))
            total += int.from_bytes(hashlib.sha256(line.encode()).digest()[:16], "big")
        count += len(rows)
        if len(rows) < PAGE:
            return count, f"{total % 2**128:032x}"
        after = [rows[-1][index] for index in at]


def compare(
    tx: Transaction, live: Projection, new: Projection, position: int, sample: int = SAMPLE
) -> Comparison:
    """Compare every table of two generations of one projection, as this transaction sees them."""
    tables = [_table(tx, live, new, table, sample) for table in new.tables]
    return Comparison(new.name, live.generation, new.generation, position, tables)


def _table(
    tx: Transaction, live: Projection, new: Projection, table: str, sample: int
) -> TableComparison:
    old_table, new_table = live.table(table), new.table(table)
    key = primary_key(new.tables[table])
    new_columns = tx.columns(new_table)
    new_rows, new_sum = checksum(tx, new_table, new_columns, key)
    if not tx.table_exists(old_table):
        return TableComparison(table, 0, new_rows, "", new_sum, new_rows, note="new table")
    old_columns = tx.columns(old_table)
    if old_columns != new_columns or not set(key) <= set(old_columns):
        note = f"columns differ: live ({', '.join(old_columns)}), new ({', '.join(new_columns)})"
        return TableComparison(table, _count(tx, old_table), new_rows, "", new_sum, note=note)
    old_rows, old_sum = checksum(tx, old_table, old_columns, key)
    if (old_rows, old_sum) == (new_rows, new_sum):
        return TableComparison(table, old_rows, new_rows, old_sum, new_sum)
    differing, keys = _differing_keys(tx, old_table, new_table, new_columns, key, sample)
    shown = [
        Difference(
            dict(zip(key, values, strict=True)),
            _row(tx, old_table, new_columns, key, values),
            _row(tx, new_table, new_columns, key, values),
        )
        for values in keys
    ]
    return TableComparison(table, old_rows, new_rows, old_sum, new_sum, differing, shown)


def _count(tx: Transaction, table: str) -> int:
    row = tx.fetchone(f"SELECT count(*) FROM {table}")
    return int(row[0]) if row else 0


def _differing_keys(
    tx: Transaction, old: str, new: str, columns: list[str], key: list[str], sample: int
) -> tuple[int, list[Row]]:
    """Return how many keys have rows that differ (or only one side has), and the first few."""
    every, keys = ", ".join(columns), ", ".join(key)
    only_old = f"SELECT {every} FROM {old} EXCEPT SELECT {every} FROM {new}"
    only_new = f"SELECT {every} FROM {new} EXCEPT SELECT {every} FROM {old}"
    either = f"SELECT {keys} FROM ({only_old}) a UNION SELECT {keys} FROM ({only_new}) b"
    row = tx.fetchone(f"SELECT count(*) FROM ({either}) d")
    return (int(row[0]) if row else 0), tx.fetchall(f"{either} ORDER BY {keys} LIMIT {sample}")


def _row(
    tx: Transaction, table: str, columns: list[str], key: list[str], values: Row
) -> dict[str, Any] | None:
    where = " AND ".join(f"{column} = ?" for column in key)
    row = tx.fetchone(f"SELECT {', '.join(columns)} FROM {table} WHERE {where}", values)
    return None if row is None else dict(zip(columns, row, strict=True))
