"""Write history to files: JSON Lines in one file, or Parquet part files in one folder.

A run writes the events after one position up to another. Without a state file it writes
afresh (the JSONL file, or the folder's part files, are replaced); with one it is incremental:
it starts after the position the state recorded, appends to the JSONL file (cut back first to
the size the state recorded, so a run that died half-way leaves no partial line) or adds one
part file `events-<first>-<last>.parquet` to the folder (written under a temporary name, then
renamed; a rerun of the same range replaces it), and records the new position only then.
DuckDB reads the folder as one table (`FROM 'DIR/*.parquet'`), pandas too (`read_parquet(DIR)`).
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from upare.history import HistoryEvent

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("jsonl", "parquet")
ROW_GROUP = 10_000  # rows buffered before they are written as one Parquet row group
COLUMNS = ["position", "type", "aggregate_id", "version", "timestamp", "data"]
EPOCH, US = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)


@dataclass(frozen=True)
class State:
    """Where the last incremental run stopped, kept in a small JSON file."""

    format: str
    position: int = 0
    size: int = 0  # of the JSONL file after that run

    @classmethod
    def load(cls, path: Path, format: str) -> State:
        """Read the state file, or start from nothing when there is none yet."""
        if not path.exists():
            return cls(format)
        state = cls(**json.loads(path.read_text()))
        if state.format != format:
            raise ValueError(f"{path} belongs to a {state.format} export, not {format}")
        return state

    def save(self, path: Path) -> None:
        """Write the state file whole or not at all."""
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(asdict(self)) + "\n")
        os.replace(temporary, path)


def write(
    events: Iterable[HistoryEvent],
    format: str,
    out: Path,
    after: int,
    upto: int,
    state: State | None = None,
) -> tuple[int, int]:
    """Write these events (positions after `after`, up to `upto`) to `out`, afresh or, with
    the last run's `state`, incrementally.

    Return how many were written and the JSONL file's size after them (0 for Parquet).
    """
    if format == "jsonl":
        return write_jsonl(events, out, state)
    return write_parquet(events, out, after, upto, append=state is not None), 0


def write_jsonl(events: Iterable[HistoryEvent], out: Path, state: State | None) -> tuple[int, int]:
    count = 0
    with open(out, "wb" if state is None else "ab") as file:
        if state is not None:
            file.truncate(state.size)  # what a run that died after the last state wrote
            file.seek(state.size)
        for event in events:
            file.write(event.json())
            file.write(b"\n")
            count += 1
        return count, file.tell()


def load(format: str) -> None:
    """Import what writing this format needs (pyarrow for Parquet: a process's 90 MB, so
    only when asked)."""
    if format == "parquet":
        import pyarrow.parquet  # noqa: F401


def write_parquet(
    events: Iterable[HistoryEvent], out: Path, after: int, upto: int, append: bool
) -> int:
    import pyarrow.parquet as pq  # loaded by `load`

    out.mkdir(parents=True, exist_ok=True)
    if not append:
        for part in out.glob("events-*.parquet"):
            part.unlink()
    final = out / f"events-{after + 1:012d}-{upto:012d}.parquet"
    temporary = final.with_name(final.name + ".tmp")
    count, writer, rest = 0, None, iter(events)
    try:
        while columns := Columns.of(islice(rest, ROW_GROUP)):
            writer = writer or pq.ParquetWriter(temporary, columns.schema())
            writer.write_batch(columns.batch())
            count += len(columns)
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        os.replace(temporary, final)
    return count


class Columns:
    """One Parquet row group's columns as they fill, typed (the data: JSON text).

    Each event goes into the columns as it comes: 64-bit integers into arrays, texts into one
    buffer of UTF-8 bytes per column with the offset where each ends (Arrow's own layout), so a
    row group holds its bytes and not its events' Python objects. The columns become Arrow
    arrays from those buffers, not from lists of Python values: that conversion goes value by
    value, and imports pandas when it is installed (55 MB the export never uses).
    """

    def __init__(self) -> None:
        self.position, self.version, self.timestamp = array("q"), array("q"), array("q")
        self.type, self.aggregate_id, self.data = Texts(), Texts(), Texts()

    @classmethod
    def of(cls, events: Iterable[HistoryEvent]) -> Columns:
        columns = cls()
        for event in events:
            columns.add(event)
        return columns

    def __len__(self) -> int:
        return len(self.position)

    def add(self, event: HistoryEvent) -> None:
        self.position.append(event.position)
        self.version.append(event.version)
        self.timestamp.append((event.timestamp - EPOCH) // US)
        self.type.add(event.type.encode())
        self.aggregate_id.add(event.aggregate_id.encode())
        self.data.add(orjson.dumps(event.data))  # its shape varies with its type

    def schema(self) -> pa.Schema:
        import pyarrow as pa

        types = {"position": pa.int64(), "version": pa.int64()}
        types["timestamp"] = pa.timestamp("us", tz="UTC")
        return pa.schema([(name, types.get(name, pa.string())) for name in COLUMNS])

    def batch(self) -> pa.RecordBatch:
        import pyarrow as pa

        schema = self.schema()
        arrays = [
            column.array() if isinstance(column, Texts) else numbers(field.type, column)
            for field in schema
            for column in (getattr(self, field.name),)
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


class Texts:
    """A column of UTF-8 texts: their bytes one after the other, and where each ends."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends = array("i", [0])

    def add(self, text: bytes) -> None:
        self.data += text
        self.ends.append(len(self.data))

    def array(self) -> pa.Array:
        import pyarrow as pa

        return pa.StringArray.from_buffers(
            len(self.ends) - 1, pa.py_buffer(self.ends), pa.py_buffer(self.data)
        )


def numbers(type: pa.DataType, values: array[int]) -> pa.Array:
    """Return 64-bit integers as an Arrow array of this type (an integer or a timestamp)."""
    import pyarrow as pa

    return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(values)])
