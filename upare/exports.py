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
from itertools import accumulate, islice
from pathlib import Path
from typing import TYPE_CHECKING

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
            file.write(event.json().encode() + b"\n")
            count += 1
        return count, file.tell()


def write_parquet(
    events: Iterable[HistoryEvent], out: Path, after: int, upto: int, append: bool
) -> int:
    import pyarrow.parquet as pq  # here, not at import: it costs a process 90 MB

    out.mkdir(parents=True, exist_ok=True)
    if not append:
        for part in out.glob("events-*.parquet"):
            part.unlink()
    final = out / f"events-{after + 1:012d}-{upto:012d}.parquet"
    temporary = final.with_name(final.name + ".tmp")
    count, writer, rest = 0, None, iter(events)
    try:
        for rows in iter(lambda: list(islice(rest, ROW_GROUP)), []):
            batch = record_batch(rows)
            writer = writer or pq.ParquetWriter(temporary, batch.schema)
            writer.write_batch(batch)
            count += len(rows)
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        os.replace(temporary, final)
    return count


def record_batch(rows: list[HistoryEvent]) -> pa.RecordBatch:
    """Return these events as one Parquet row group's columns, typed (the data: JSON text).

    The columns are built from buffers, not from lists of Python values: that conversion goes
    value by value, and imports pandas when it is installed (55 MB the export never uses).
    """
    import pyarrow as pa

    columns = [
        numbers(pa.int64(), [row.position for row in rows]),
        texts([row.type for row in rows]),
        texts([row.aggregate_id for row in rows]),
        numbers(pa.int64(), [row.version for row in rows]),
        numbers(pa.timestamp("us", tz="UTC"), [(row.timestamp - EPOCH) // US for row in rows]),
        texts([json.dumps(row.data) for row in rows]),  # its shape varies with its type
    ]
    return pa.RecordBatch.from_arrays(columns, names=COLUMNS)


def numbers(type: pa.DataType, values: list[int]) -> pa.Array:
    """Return 64-bit integers as an Arrow array of this type (an integer or a timestamp)."""
    import pyarrow as pa

    return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(array("q", values))])


def texts(values: list[str]) -> pa.Array:
    """Return strings as an Arrow string array: their UTF-8 bytes and where each ends."""
    import pyarrow as pa

    encoded = [value.encode() for value in values]
    ends = array("i", [0])
    ends.extend(accumulate(map(len, encoded)))
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(ends), pa.py_buffer(b"".join(encoded))
    )
