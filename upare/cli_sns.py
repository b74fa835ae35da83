"""`upare sns ...`: SNS tickets for development, signed as the server signs them."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from upare import sns
from upare.settings import Settings

app = typer.Typer(help="SNS identities (development).", no_args_is_help=True)


@app.command("ticket")
def ticket_command(
    channel: Annotated[str, typer.Option(help="the SNS channel, e.g. weibo or qq")],
    openid: Annotated[str, typer.Option(help="the openid that channel gave the user")],
    ttl: Annotated[int, typer.Option(min=1, help="seconds the ticket is valid")] = sns.TTL_SECONDS,
) -> None:
    """Print an `sns_ticket` for `snsreg` that proves this SNS identity.

    It stands in for an SNS sign-in, which is what issues tickets in production; so it is
    refused with UPARE_ENV=production. The ticket is signed with UPARE_SECRET_KEY: the server
    that is to accept it must have the same.
    """
    settings = Settings.from_env()
    if settings.env == "production":
        typer.echo("error: tickets are issued by SNS sign-ins in production", err=True)
        raise typer.Exit(2)
    try:
        identity = sns.check_identity(channel, openid)
    except ValueError as ex:
        typer.echo(f"error: {ex}", err=True)
        raise typer.Exit(2) from None
    typer.echo(sns.issue(settings.secret_key, identity, time.time(), ttl))
