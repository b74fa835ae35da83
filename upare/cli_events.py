"""`upare events ...`: export the history, show an aggregate's history, and its state then.

It imports the event store only (`upare.store`), not the rest of the app: `upare events` starts
straight here (`upare.entry`), and an export's memory is mostly its imports.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from domain.users import user_id
from upare import collector, exports, history, logs
from upare.settings import Settings
from upare.store import build_app

app = typer.Typer(help="The event history: export, log and time travel.", no_args_is_help=True)
UID = Annotated[int | None, typer.Option("--uid", help="a user, by uid")]
AGGREGATE = Annotated[str | None, typer.Option("--aggregate", help="an aggregate, by id")]


def moment(value: str | None, name: str) -> datetime | None:
    """Read an ISO 8601 time (naive: UTC), or refuse the option."""
    if value is None:
        return None
    try:
        return history.utc(datetime.fromisoformat(value))
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=name) from None


def aggregate_of(uid: int | None, aggregate: str | None) -> UUID:
    """Return the aggregate id that --uid or --aggregate names (exactly one of them)."""
    if (uid is None) == (aggregate is None):
        raise typer.BadParameter("give --uid or --aggregate, one of them")
    if uid is not None:
        return user_id(uid)
    try:
        return UUID(str(aggregate))
    except ValueError:
        raise typer.BadParameter(f"not an id: {aggregate!r}", param_hint="--aggregate") from None


@app.command("export")
def export_command(
    format: Annotated[str, typer.Option(help="jsonl or parquet")],
    out: Annotated[Path, typer.Option(help="the JSONL file, or the Parquet folder")],
    types: Annotated[
        list[str] | None, typer.Option("--type", help="only events of this type (repeatable)")
    ] = None,
    since: Annotated[str | None, typer.Option(help="only events at or after this time")] = None,
    until: Annotated[str | None, typer.Option(help="only events before this time")] = None,
    aggregate: Annotated[str | None, typer.Option(help="only this aggregate's events")] = None,
    after_position: Annotated[int, typer.Option(help="only events after this position")] = 0,
    state: Annotated[
        Path | None, typer.Option(help="a state file: start where the last run stopped")
    ] = None,
) -> None:
    """Export the stored events, one row each, as JSON Lines or Parquet; personal data stays
    sealed (unreadable once its person is erased)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    logs.configure("WARNING")
    if format not in exports.FORMATS:
        raise typer.BadParameter("jsonl or parquet", param_hint="--format")
    owner = None if aggregate is None else aggregate_of(None, aggregate)
    try:
        last = None if state is None else exports.State.load(state, format)
    except (ValueError, TypeError) as ex:
        raise typer.BadParameter(str(ex), param_hint="--state") from None
    after = after_position if last is None else last.position
    store = build_app(Settings.from_env(), create=False)
    exports.load(format)
    collector.settle()
    started = time.monotonic()  # the rate said is the export's, not the start's
    console = Console(stderr=True)
    columns = (
        TextColumn("exporting"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    try:
        upto = store.recorder.max_notification_id() or 0
        with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
            task = progress.add_task("export", total=max(upto - after, 1))
            found = history.events(
                store,
                types=types or (),
                since=moment(since, "--since"),
                until=moment(until, "--until"),
                aggregate=owner,
                after_position=after,
                upto=upto,
                progress=lambda done, _: progress.update(task, completed=done - after),
                sealed=True,  # an export is a copy that a person's erasure must shred too
            )
            count, size = exports.write(found, format, out, after, max(upto, after), last)
    finally:
        store.close()
    if state is not None:
        exports.State(format, max(upto, after), size).save(state)
    seconds = time.monotonic() - started
    span = f"positions {after + 1}-{upto}" if upto > after else f"nothing after {after}"
    typer.echo(
        f"exported {count} events ({span}) to {out}"
        f" in {seconds:.1f} s ({count / seconds if seconds else 0:,.0f} events/s)"
    )


@app.command("log")
def log_command(uid: UID = None, aggregate: AGGREGATE = None) -> None:
    """Print an aggregate's history: one event a line (position, version, time, type, data)."""
    logs.configure("WARNING")
    owner = aggregate_of(uid, aggregate)
    found = 0
    for event in history.events(Settings.from_env(), aggregate=owner):
        found += 1
        typer.echo(
            f"{event.position}\tv{event.version}\t{event.timestamp.isoformat()}"
            f"\t{event.type}\t{json.dumps(event.data)}"
        )
    if not found:
        typer.echo(f"no events of {owner}", err=True)
        raise typer.Exit(1)


@app.command("as-of")
def as_of_command(
    uid: UID = None,
    aggregate: AGGREGATE = None,
    at: Annotated[str | None, typer.Option(help="its state at this ISO 8601 time")] = None,
    version: Annotated[int | None, typer.Option(help="its state at this version")] = None,
) -> None:
    """Print an aggregate's state at a time or a version, as JSON."""
    logs.configure("WARNING")
    owner = aggregate_of(uid, aggregate)
    if (at is None) == (version is None):
        raise typer.BadParameter("give --at or --version, one of them")
    settings = Settings.from_env()
    if version is None:
        then = moment(at, "--at")
        assert then is not None
        earlier = history.events(settings, aggregate=owner)
        version = max((event.version for event in earlier if event.timestamp <= then), default=0)
    store = build_app(settings, create=False)
    try:
        state = history.state_of(store, owner, version) if version else None
    finally:
        store.close()
    if state is None:
        typer.echo(f"{owner} had no version {version or 1} then", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(state, indent=2))
