"""`upare clients create|list|rotate-secret|delete`: the OAuth apps, registered by operators.

A secret is printed once, when it is made (create, rotate-secret): only its digest is kept.
Refusals print `error: ...` on standard error and exit 1 for an unknown client id, 2 for a bad
value (a redirect URI, a scope, an empty name).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from commands.clients import CreateClient, DeleteClient, RotateClientSecret
from domain.errors import UpareError
from domain.oauth import SCOPES
from queries import clients as queries
from queries.freshness import wait_for
from upare import logs
from upare.bootstrap import Container, bootstrap

app = typer.Typer(help="OAuth clients: the third-party apps.", no_args_is_help=True)
CATCH_UP_SECONDS = 2.0  # how long `list` waits for the read model to hold the latest changes
WARNING_BEHIND = "warning: the list may miss the latest changes (is `upare worker` running?)"
SECRET_WARNING = "Keep the client_secret now: it is not shown again."  # noqa: S105 (a warning)
JSON = Annotated[bool, typer.Option("--json", help="print one JSON line")]
CLIENT_ID = Annotated[str, typer.Argument(help="the client's 15-digit id")]


@contextmanager
def wired() -> Iterator[Container]:
    """Wire the process quietly and turn a refused command into `error: ...` and an exit code."""
    logs.configure("WARNING")
    with bootstrap() as container:
        try:
            yield container
        except UpareError as ex:
            if ex.code == 201213:
                typer.echo("error: no such client (unknown or deleted client id)", err=True)
                raise typer.Exit(1) from None
            for name, reason in (ex.errors or {"": ex.message}).items():
                typer.echo(f"error: {name}: {reason}" if name else f"error: {reason}", err=True)
            raise typer.Exit(2) from None


def show_secret(fields: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(fields))
        return
    for name, value in fields.items():
        typer.echo(f"{name:<14} {value if value is not None else '(none: a public client)'}")
    if fields.get("client_secret"):
        typer.echo(SECRET_WARNING)


@app.command("create")
def create_command(
    name: Annotated[str, typer.Option(help="the app's name, shown on the consent page")],
    redirect_uri: Annotated[
        list[str], typer.Option(help="an exact redirect URI (repeat for several)")
    ],
    scope: Annotated[str, typer.Option(help=f"comma-separated, of {', '.join(SCOPES)}")] = (
        "user_info"
    ),
    trusted: Annotated[bool, typer.Option("--trusted", help="skip the consent page")] = False,
    password_grant: Annotated[
        bool, typer.Option("--allow-password-grant", help="allow grant_type=password")
    ] = False,
    public: Annotated[
        bool, typer.Option("--public", help="no secret; PKCE required (browser, native app)")
    ] = False,
    as_json: JSON = False,
) -> None:
    """Register an app; print its client_id and client_secret (shown once)."""
    command = CreateClient(
        name=name,
        redirect_uris=tuple(redirect_uri),
        scopes=tuple(part.strip() for part in scope.split(",") if part.strip()),
        trusted=trusted,
        password_grant=password_grant,
        public=public,
    )
    with wired() as container:
        done = container.bus.execute(command)
    show_secret(done.fields, as_json)


@app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False):
    """Show every client: id, name, redirect URIs, scopes, flags, created, deleted."""
    with wired() as container:
        head = container.log.head()
        if not wait_for(container.db, ["clients"], head, CATCH_UP_SECONDS):
            typer.echo(WARNING_BEHIND, err=True)
        found = queries.clients(container.db)
    if as_json:
        for client in found:
            typer.echo(json.dumps(client))
        return
    table = Table(title=f"clients ({len(found)})")
    for header in ("client_id", "name", "redirect URIs", "scopes", "flags", "created", "deleted"):
        table.add_column(header)
    for client in found:
        flags = [flag for flag in ("trusted", "password_grant", "public") if client[flag]]
        table.add_row(
            client["client_id"],
            client["name"],
            "\n".join(client["redirect_uris"]),
            ",".join(client["scopes"]),
            ",".join(flags),
            client["created_at"][:19],
            (client["deleted_at"] or "")[:19],
        )
    Console(width=200).print(table)


@app.command("rotate-secret")
def rotate_secret_command(client_id: CLIENT_ID, as_json: JSON = False) -> None:
    """Give a client a new secret (shown once); the old one stops working at once."""
    with wired() as container:
        done = container.bus.execute(RotateClientSecret(client_id=client_id))
    show_secret(done.fields, as_json)


@app.command("delete")
def delete_command(client_id: CLIENT_ID) -> None:
    """Delete a client: its tokens, codes and refresh tokens stop working at once."""
    with wired() as container:
        container.bus.execute(DeleteClient(client_id=client_id))
    typer.echo(f"client {client_id} deleted")
