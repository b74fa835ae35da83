"""`upare projections ...`: rebuild a projection (verified, keeping the old generation), roll
it back, and show how far the pipeline has got."""

from __future__ import annotations

from collections.abc import Callable

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
from projections.compare import Comparison, Difference
from projections.rebuild import Mismatch, RebuildError, Rebuilt, Report, rebuild, rollback
from upare import collector, logs
from upare.bootstrap import Container, bootstrap
from upare.status import ProjectionStatus, pipeline_status

app = typer.Typer(
    help="The projections (read models): status, rebuilds and rollbacks.", no_args_is_help=True
)


def find(container: Container, name: str) -> type[Projection]:
    """Return the projection class of this name, or refuse the argument."""
    for cls in container.every_projection:
        if cls.name == name:
            return cls
    known = ", ".join(cls.name for cls in container.every_projection)
    raise typer.BadParameter(f"no projection {name!r} (known: {known})", param_hint="NAME")


def progress_bar(description: str) -> Progress:
    """Return a progress bar with an ETA, on stderr."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=Console(stderr=True))


def run_with_progress(description: str, run: Callable[[Report], Rebuilt]) -> Rebuilt:
    """Run a rebuild or rollback with a progress bar; a refusal ends the command with 1."""
    try:
        with progress_bar(description) as progress:
            task = progress.add_task(description, total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return run(report)
    except Mismatch as ex:
        show_comparison(ex.comparison)
        typer.echo(f"rebuild refused: {ex}", err=True)
    except RebuildError as ex:
        typer.echo(f"{description} refused: {ex}", err=True)
    raise typer.Exit(1)


def show_comparison(comparison: Comparison) -> None:
    """Print what verifying found: per table the rows and checksums, and rows that differ."""
    typer.echo(
        f"{comparison.name}: live generation {comparison.live_generation} against new"
        f" generation {comparison.new_generation} at position {comparison.position}"
    )
    for table in comparison.tables:
        verdict = "match" if table.matches else f"DIFFER ({table.differing} rows)"
        typer.echo(
            f"  {table.table}: rows {table.live_rows} / {table.new_rows},"
            f" checksum {table.live_checksum or '-'} / {table.new_checksum or '-'}: {verdict}"
        )
        if table.note:
            typer.echo(f"    {table.note}")
        for difference in table.sample:
            key = ", ".join(f"{column}={value!r}" for column, value in difference.key.items())
            typer.echo(f"    {key}: {describe(difference)}")


def describe(difference: Difference) -> str:
    """Say how one row differs: the changed columns, or which generation lacks it."""
    if difference.live is None:
        return "only in the new generation"
    if difference.new is None:
        return "only in the live generation"
    new = difference.new
    return ", ".join(
        f"{column} {value!r} -> {new[column]!r}"
        for column, value in difference.live.items()
        if new[column] != value
    )


@app.command("rebuild")
def rebuild_command(
    name: str = typer.Argument(..., help="the projection to rebuild, e.g. users"),
    verify: bool = typer.Option(
        False, "--verify", help="compare with the live generation; switch only if they match"
    ),
    force: bool = typer.Option(False, "--force", help="with --verify: switch even if they differ"),
    keep: bool = typer.Option(
        False, "--keep", help="keep the old generation, for `upare projections rollback`"
    ),
) -> None:
    """Build the next generation of a projection from the event store, then switch readers."""
    if force and not verify:
        raise typer.BadParameter("--force goes with --verify", param_hint="--force")
    logs.configure("WARNING")
    with bootstrap() as container:
        cls = find(container, name)
        collector.settle()
        done = run_with_progress(
            f"rebuilding {name}",
            lambda report: rebuild(
                container.log,
                container.db,
                cls,
                report,
                container.retry,
                verify=verify,
                force=force,
                keep=keep,
            ),
        )
    if done.comparison is not None:
        show_comparison(done.comparison)
    rate = done.events / done.seconds if done.seconds else 0.0
    typer.echo(
        f"{name}: generation {done.generation} is live at position {done.position}"
        f" ({done.events} events in {done.seconds:.1f} s, {rate:,.0f} events/s)"
    )
    if done.kept is not None:
        typer.echo(
            f"{name}: generation {done.kept} is kept (`upare projections rollback {name}`"
            " switches back to it)"
        )


@app.command("rollback")
def rollback_command(
    name: str = typer.Argument(..., help="the projection to switch back, e.g. users"),
) -> None:
    """Switch readers back to the generation a `rebuild --keep` kept, caught up first."""
    logs.configure("WARNING")
    with bootstrap() as container:
        cls = find(container, name)
        done = run_with_progress(
            f"rolling back {name}",
            lambda report: rollback(container.log, container.db, cls, report, container.retry),
        )
    typer.echo(
        f"{name}: generation {done.generation} is live again at position {done.position}"
        f" (caught up over {done.events} events); generation {done.kept} is kept"
        " (rolling back again switches to it)"
    )


def kept_text(row: ProjectionStatus) -> str:
    """Say which generation is kept for a rollback, and whether this code can roll back to it."""
    if row.kept is None:
        return "-"
    if row.can_roll_back:
        return f"{row.kept} (can roll back)"
    built = "never built" if row.kept_version is None else f"built by v{row.kept_version}"
    return f"{row.kept} ({built}: cannot roll back)"


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
    table.add_column("kept (rollback)")
    for row in status.projections:
        table.add_row(
            row.name,
            "-" if row.generation is None else str(row.generation),
            str(row.watermark),
            str(row.lag_events),
            f"{row.lag_seconds:.1f}",
            str(row.dead_letters),
            kept_text(row),
        )
    console = Console()
    console.print(table)
    relay = "-" if status.relay_position is None else str(status.relay_position)
    waiting = deliveries.get(outbox.PENDING, 0) + deliveries.get(outbox.SENDING, 0)
    console.print(f"outbox: {waiting} to send, {deliveries.get(outbox.FAILED, 0)} failed")
    console.print(f"relay position: {relay}")
