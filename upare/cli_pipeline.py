"""`upare relay`, `upare projector`, `upare notifier` and `upare projections dead-letters ...`:
the event pipeline's processes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

import typer
from rich.console import Console
from rich.table import Table

from projections import dead_letters
from projections.apply import retry_parked, skip_parked
from upare import logs
from upare.bootstrap import Container, bootstrap
from upare.cli_outbox import deliverer_loop
from upare.cli_projections import find
from workers.kafka import KafkaConfig

dead_letters_app = typer.Typer(
    help="Events the projections could not apply: list, retry, skip.", no_args_is_help=True
)
log = logging.getLogger("upare")


def kafka_config(container: Container) -> KafkaConfig:
    """Return the Kafka settings, or refuse to start without UPARE_KAFKA_BOOTSTRAP."""
    if not container.settings.kafka_bootstrap:
        raise SystemExit("UPARE_KAFKA_BOOTSTRAP is not set: the relay and projector need Kafka")
    return KafkaConfig.from_settings(container.settings)


def relay_loop(container: Container) -> Callable[[threading.Event], None]:
    """Return the relay's loop for this process."""
    from workers.relay import Relay

    return Relay(container.log, container.db, kafka_config(container)).run


def projector_loop(container: Container) -> Callable[[threading.Event], None]:
    """Return the projector's loop for this process."""
    from workers.projector import Projector

    return Projector(
        container.log,
        container.db,
        container.projections,
        kafka_config(container),
        container.retry,
    ).run


def reminders_loop(container: Container) -> Callable[[threading.Event], None]:
    """Return the reminder scheduler's loop for this process."""
    from workers.reminders import Reminders

    return Reminders(container.db, container.bus, container.clock).run


def notifier_loops(container: Container) -> list[Callable[[threading.Event], None]]:
    """Return the notifier's loops: the notices' own feed, and the outcomes' loop.

    The feed is a store feed of its own, or on Kafka a projector in a consumer group of its
    own (`<group>-notifier`), so the notifier's lag never holds back the read models.
    """
    from workers.notifier import Notifier
    from workers.projector import Projector
    from workers.store_feed import StoreFeed

    log, db, classes = container.log, container.db, container.notifier_projections
    if container.settings.kafka_bootstrap:
        config = kafka_config(container)
        config = replace(config, group=f"{config.group}-notifier")
        feed = Projector(log, db, classes, config, container.retry).run
    else:
        feed = StoreFeed(log, db, classes, container.retry).run
    return [feed, Notifier(db, container.bus).run]


def run_loops(loops: list[Callable[[threading.Event], None]], stop: threading.Event) -> None:
    """Run loops in threads until `stop` is set; if one fails, stop the others and fail."""
    failed: list[BaseException] = []

    def guard(loop: Callable[[threading.Event], None]) -> None:
        try:
            loop(stop)
        except BaseException as ex:
            log.exception("worker loop failed")
            failed.append(ex)
            stop.set()

    threads = [threading.Thread(target=guard, args=(loop,), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.5)
    if failed:
        raise SystemExit(1)


def _run(*loops: Callable[[Container], Callable[[threading.Event], None]]) -> None:
    from upare.cli import stop_on_signals

    logs.configure()
    with bootstrap() as container:
        run_loops([make(container) for make in loops], stop_on_signals())


def relay() -> None:
    """Publish the event store's log to Kafka until stopped."""
    _run(relay_loop)


def projector() -> None:
    """Apply the events from Kafka to the projections (consumer group) until stopped."""
    _run(projector_loop)


def deliverer() -> None:
    """Send the outbox's mails, SMS and inbox messages until stopped."""
    _run(deliverer_loop)


def reminders() -> None:
    """Send the calendar's due reminders to the inbox until stopped."""
    _run(reminders_loop)


def notifier() -> None:
    """Notify new friends (inbox, mail) and record the outcomes (204104) until stopped.

    Runs the notices' own feed, the outcomes' loop and a deliverer.
    """
    from upare.cli import stop_on_signals

    logs.configure()
    with bootstrap() as container:
        loops = [*notifier_loops(container), deliverer_loop(container)]
        run_loops(loops, stop_on_signals())


def kafka_worker(container: Container, stop: threading.Event) -> None:
    """Run the relay, the projector, the notifier, the deliverer and the reminders in this
    process (`upare worker` on Kafka)."""
    loops = [relay_loop(container), projector_loop(container), *notifier_loops(container)]
    run_loops([*loops, deliverer_loop(container), reminders_loop(container)], stop)


@dead_letters_app.command("list")
def list_command(
    projection: str = typer.Option("", help="only this projection"),
    everything: bool = typer.Option(False, "--all", help="also the retried and skipped ones"),
) -> None:
    """Show the parked events (and the events waiting behind them) of the live generations."""
    logs.configure("WARNING")
    with bootstrap() as container:
        letters = dead_letters.listing(container.db, projection or None, everything)
    table = Table(title=f"dead letters ({len(letters)})")
    for header in ("projection", "aggregate", "version", "position", "type", "status"):
        table.add_column(header)
    for header in ("attempts", "first failure", "last failure", "error"):
        table.add_column(header)
    for letter in letters:
        event = letter.event
        table.add_row(
            f"{letter.projection} g{letter.generation}",
            event.originator_id,
            str(event.version),
            str(event.position),
            event.type,
            letter.status,
            str(letter.attempts),
            letter.first_failed_at,
            letter.last_failed_at,
            letter.error[:200],
        )
    Console(width=200).print(table)


def _release(name: str, aggregate: str, skip: bool) -> None:
    logs.configure("WARNING")
    with bootstrap() as container:
        release = skip_parked if skip else retry_parked
        try:
            still_open = release(container.db, find(container, name), aggregate)
        except LookupError as ex:
            typer.echo(str(ex), err=True)
            raise typer.Exit(1) from None
    if still_open:
        typer.echo(f"{name} {aggregate}: still {still_open} parked or waiting (failed again)")
        raise typer.Exit(2)
    typer.echo(f"{name} {aggregate}: {'skipped; ' if skip else ''}released")


@dead_letters_app.command("retry")
def retry_command(
    projection: str = typer.Argument(..., help="the projection, e.g. users"),
    aggregate: str = typer.Argument(..., help="the aggregate id of the parked event"),
) -> None:
    """Apply the parked event again, then the events waiting behind it, in order."""
    _release(projection, aggregate, skip=False)


@dead_letters_app.command("skip")
def skip_command(
    projection: str = typer.Argument(..., help="the projection, e.g. users"),
    aggregate: str = typer.Argument(..., help="the aggregate id of the parked event"),
) -> None:
    """Give up on the parked event and apply the events waiting behind it."""
    _release(projection, aggregate, skip=True)


def register(app: typer.Typer, projections_app: typer.Typer) -> None:
    """Add `relay`, `projector`, `deliverer`, `notifier`, `reminders` and `projections
    dead-letters`."""
    app.command()(relay)
    app.command()(projector)
    app.command()(deliverer)
    app.command()(notifier)
    app.command()(reminders)
    projections_app.add_typer(dead_letters_app, name="dead-letters")
