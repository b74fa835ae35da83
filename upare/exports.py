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
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from upare.history import HistoryEvent

FORMATS = ("jsonl", "parquet")
ROW_GROUP = 10_000  # rows buffered before they are written as one Parquet row group
COLUMNS = ("position", "type", "aggregate_id", "version", "timestamp", "data")


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
    import pyarrow as pa  # here, not at import: it costs every `upare` process 90 MB
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("position", pa.int64()),
            ("type", pa.string()),
            ("aggregate_id", pa.string()),
            ("version", pa.int64()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("data", pa.string()),  # the event's data as a JSON object: its shape varies
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    if not append:
        for part in out.glob("events-*.parquet"):
            part.unlink()
    final = out / f"events-{after + 1:012d}-{upto:012d}.parquet"
    temporary = final.with_name(final.name + ".tmp")
    count, columns = 0, empty_columns()
    positions, types, aggregates, versions, timestamps, datas = columns.values()
    writer = None
    try:
        for event in events:
            positions.append(event.position)
            types.append(event.type)
            aggregates.append(event.aggregate_id)
            versions.append(event.version)
            timestamps.append(event.timestamp)
            datas.append(json.dumps(event.data))
            count += 1
            if len(positions) >= ROW_GROUP:
                writer = writer or pq.ParquetWriter(temporary, schema)
                writer.write_batch(pa.record_batch(columns, schema=schema))
                columns = empty_columns()
                positions, types, aggregates, versions, timestamps, datas = columns.values()
        if positions:
            writer = writer or pq.ParquetWriter(temporary, schema)
            writer.write_batch(pa.record_batch(columns, schema=schema))
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        os.replace(temporary, final)
    return count


def empty_columns() -> dict[str, list[Any]]:
    """Return one empty list per column, in the schema's order."""
    return {name: [] for name in COLUMNS}
