"""`upare projections ...`: rebuild a projection, and show how far the pipeline has got."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from projections import outbox
from projections.base import Projection
from projections.rebuild import RebuildError, rebuild
from upare import logs
from upare.bootstrap import Container, bootstrap
from upare.status import pipeline_status

app = typer.Typer(help="The projections (read models): status and rebuilds.", no_args_is_help=True)


def find(container: Container, name: str) -> type[Projection]:
    """Return the projection class of this name, or refuse the argument."""
    for cls in container.every_projection:
        if cls.name == name:
            return cls
    known = ", ".join(cls.name for cls in container.every_projection)
    raise typer.BadParameter(f"no projection {name!r} (known: {known})", param_hint="NAME")


@app.command("rebuild")
def rebuild_command(
    name: str = typer.Argument(..., help="the projection to rebuild, e.g. users"),
) -> None:
    """Build the next generation of a projection from the event store, then switch readers."""
    logs.configure("WARNING")
    with bootstrap() as container:
        cls = find(container, name)
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True)) as progress:
            task = progress.add_task(f"rebuilding {name}", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                done = rebuild(container.log, container.db, cls, report, container.retry)
            except RebuildError as ex:
                typer.echo(f"rebuild refused: {ex}", err=True)
                raise typer.Exit(1) from None
        rate = done.events / done.seconds if done.seconds else 0.0
        typer.echo(
            f"{name}: generation {done.generation} is live at position {done.position}"
            f" ({done.events} events in {done.seconds:.1f} s, {rate:,.0f} events/s)"
        )


@app.command("status")
def status_command() -> None:
    """Show each projection's generation, watermark, lag and dead letters, and the relay."""
    logs.configure("WARNING")
    with bootstrap() as container:
        on_kafka = bool(container.settings.kafka_bootstrap)
        status = pipeline_status(container.log, container.db, container.every_projection, on_kafka)
        deliveries = outbox.counts(container.db)
    table = Table(title=f"projections (event store at position {status.head})")
    for header in ("projection", "generation", "watermark", "lag (events)", "lag (s)"):
        table.add_column(header, justify="left" if header == "projection" else "right")
    table.add_column("dead letters", justify="right")
    for row in status.projections:
        table.add_row(
            row.name,
            "-" if row.generation is None else str(row.generation),
            str(row.watermark),
            str(row.lag_events),
            f"{row.lag_seconds:.1f}",
            str(row.dead_letters),
        )
    console = Console()
    console.print(table)
    relay = "-" if status.relay_position is None else str(status.relay_position)
    waiting = deliveries.get(outbox.PENDING, 0) + deliveries.get(outbox.SENDING, 0)
    console.print(f"outbox: {waiting} to send, {deliveries.get(outbox.FAILED, 0)} failed")
    console.print(f"relay position: {relay}")
