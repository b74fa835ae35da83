"""`upare deliverer` and `upare outbox list`: sending the outbox, and what it holds."""

from __future__ import annotations

import threading
from collections.abc import Callable

import typer
from rich.console import Console
from rich.table import Table

from projections import outbox
from projections.notices import NoticesProjection
from upare import logs
from upare.bootstrap import Container, bootstrap
from workers.deliverer import Channels, Deliverer, Policy, Sender, ToInbox

app = typer.Typer(
    help="The outbox: mails, SMS and inbox messages waiting, sent or failed.", no_args_is_help=True
)


def deliverer_loop(container: Container) -> Callable[[threading.Event], None]:
    """Return the deliverer's loop for this process."""
    return build_deliverer(container).run


def build_deliverer(container: Container) -> Deliverer:
    """Return the deliverer of this process: mail and SMS through the mailer, inbox messages
    through the bus; new friends' notices retried per UPARE_NOTIFY_*."""
    mailer, settings = container.mailer, container.settings
    senders: dict[str, Sender] = {
        outbox.MAIL: mailer,
        outbox.SMS: mailer,
        outbox.INBOX: ToInbox(container.bus),
    }
    notices = {NoticesProjection.name: Policy.notify(settings)}
    return Deliverer(container.db, Channels(senders), Policy.of(settings), notices)


@app.command("list")
def list_command(
    status: str = typer.Option("", help="only messages of this status (pending, sent, ...)"),
) -> None:
    """Show the queued messages: key, channel, recipient, status, attempts, last error."""
    logs.configure("WARNING")
    with bootstrap() as container:
        deliveries = outbox.listing(container.db, status or None)
    table = Table(title=f"outbox ({len(deliveries)})")
    for header in ("key", "channel", "recipient", "status", "attempts", "next attempt"):
        table.add_column(header)
    for header in ("sent", "last error"):
        table.add_column(header)
    for delivery in deliveries:
        table.add_row(
            delivery.key,
            delivery.message.channel,
            delivery.message.to,
            delivery.status,
            str(delivery.attempts),
            delivery.next_attempt_at if delivery.status == outbox.PENDING else "",
            delivery.sent_at or "",
            delivery.last_error[:200],
        )
    Console(width=200).print(table)
