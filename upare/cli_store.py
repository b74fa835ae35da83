"""`upare store upgrade`: bring an event store written by an older schema up to the current one
(`upare.store_schema`), with a progress bar."""

from __future__ import annotations

import typer

from upare import logs, store_schema
from upare.bootstrap import bootstrap
from upare.cli_projections import progress_bar

app = typer.Typer(help="The event store: its schema.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Re-key the old claims and rewrite old rows in their sealed form (idempotent)."""
    logs.configure("WARNING")
    with bootstrap(upgrading=True) as container, progress_bar("upgrade") as progress:
        task = progress.add_task("upgrade", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        done = store_schema.upgrade(container.app, container.log, report)
    for conflict in done.conflicts:
        typer.echo(f"not moved: the {conflict} is held by another account", err=True)
    typer.echo(f"upgraded: {done.claims} claims re-keyed, {done.rows} rows rewritten")
