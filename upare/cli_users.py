"""`upare users erase UID`: forget a person by deleting their key (`commands.erasure`).

Prints the position of the `User.Erased` event (nothing when they were erased already) and
exits 1 with `error: ...` for a uid that never had an account.
"""

from __future__ import annotations

from typing import Annotated

import typer

from commands.erasure import EraseUser
from domain.errors import UpareError
from upare import logs
from upare.bootstrap import bootstrap

app = typer.Typer(help="Users: erasure.", no_args_is_help=True)


@app.command()
def erase(uid: Annotated[int, typer.Argument(help="the user's numeric uid")]) -> None:
    """Erase a user: release their claims, record User.Erased and delete their key."""
    logs.configure("WARNING")
    with bootstrap() as container:
        try:
            done = container.bus.execute(EraseUser(uid=uid))
        except UpareError as ex:
            typer.echo(f"error: {ex.message}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"erased {uid}" + ("" if done.position is None else f" at {done.position}"))
