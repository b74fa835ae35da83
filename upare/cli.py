"""The `upare` command: serve the API, run the workers, look after the databases."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import typer

from upare import (
    access_log,
    cli_clients,
    cli_image,
    cli_outbox,
    cli_pipeline,
    cli_sns,
    cli_store,
    cli_users,
    logs,
)
from upare.bootstrap import bootstrap
from upare.cli_events import app as events_app
from upare.cli_projections import app as projections_app
from upare.settings import Settings
from upare.supervisor import Supervised

app = typer.Typer(help="Upare: an event-sourced social calendar backend.", no_args_is_help=True)
db_app = typer.Typer(help="The event store and read-model databases.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(projections_app, name="projections")
cli_pipeline.register(app, projections_app)  # relay, projector, deliverer, notifier, ...
app.add_typer(cli_outbox.app, name="outbox")
app.add_typer(cli_image.app, name="image")
app.add_typer(cli_sns.app, name="sns")
app.add_typer(cli_clients.app, name="clients")
app.add_typer(events_app, name="events")
app.add_typer(cli_users.app, name="users")
app.add_typer(cli_store.app, name="store")
log = logging.getLogger("upare")


def stop_on_signals() -> threading.Event:
    """Return an event that SIGTERM or SIGINT sets, for loops that must end cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


@db_app.command("init")
def db_init() -> None:
    """Create the event store's and the read models' tables."""
    logs.configure()
    bootstrap().close()
    typer.echo("databases ready")


@app.command()
def worker() -> None:
    """Run the workers until stopped: the projections, the notifier, the outbox's deliverer
    and the reminders.

    The projections are fed from the store's log, or on Kafka by the relay and a projector;
    the notifier has a feed of its own either way.
    """
    from workers.store_feed import StoreFeed

    logs.configure()
    with bootstrap() as container:
        if container.settings.kafka_bootstrap:
            cli_pipeline.kafka_worker(container, stop_on_signals())
            return
        feed = StoreFeed(container.log, container.db, container.projections, container.retry)
        deliverer = cli_outbox.deliverer_loop(container)
        reminders = cli_pipeline.reminders_loop(container)
        notifier = cli_pipeline.notifier_loops(container)
        cli_pipeline.run_loops([feed.run, *notifier, deliverer, reminders], stop_on_signals())


def share_metrics(settings: Settings) -> None:
    """Point prometheus-client's multiprocess mode at an empty folder, before workers fork.

    The gunicorn workers inherit PROMETHEUS_MULTIPROC_DIR and write their request metrics
    there; `/metrics` in any worker sums them (api/metrics.py). This process must not import
    prometheus_client before, or its forked workers would keep per-process counters.
    """
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.data_dir / "prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # counts of a previous run
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder.resolve())


# `upare serve`'s defaults, chosen by bench/bench_requests.py on 2 cores: one worker process
# a core, each of 4 threads (gthread: keep-alive, a request's database and Redis round trips
# overlap another's Python, and concurrent commands commit together). On a busy machine sync
# workers served 0.6 of its reads (4 sync workers 0.7, 4 of 4 threads no more); on a quiet
# one as many
SERVE_WORKERS = 2
SERVE_THREADS = 4


def gunicorn_argv(
    host: str,
    port: int,
    workers: int,
    threads: int = 1,
    application: str = "upare.wsgi:application",
) -> list[str]:
    """Return gunicorn's command line for `upare serve` (bench/bench_requests.py serves a bare
    Falcon app with the same settings, as its baseline)."""
    from upare.gunicorn_worker import LIMIT_REQUEST_LINE

    return [
        "gunicorn",
        f"--bind={host}:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=upare.gunicorn_worker."
        + ("EnvelopeThreadWorker" if threads > 1 else "EnvelopeWorker"),
        f"--limit-request-line={LIMIT_REQUEST_LINE}",
        "--access-logfile=-",
        "--access-logformat=" + access_log.FORMAT,
        "--logger-class=upare.access_log.AccessLogger",
        "--no-control-socket",  # unused, and one path a user: two servers would share it
        application,
    ]


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    workers: int = typer.Option(SERVE_WORKERS, help="gunicorn worker processes"),
    threads: int = typer.Option(
        SERVE_THREADS, help="threads per worker (over 1: gthread, commits grouped)"
    ),
    with_worker: bool = typer.Option(True, help="also run the projections (embedded feed)"),
) -> None:
    """Serve the API with gunicorn and, on the embedded feed, a worker beside it."""
    from gunicorn.app.wsgiapp import WSGIApplication

    logs.configure()
    settings = Settings.from_env()
    bootstrap(settings).close()  # create tables once, before the processes race for them
    share_metrics(settings)
    if settings.env != "production":
        log.warning("UPARE_ENV=%s: not a production configuration", settings.env)
    if settings.captcha_test_mode:
        log.warning("UPARE_CAPTCHA_TEST_MODE is on: the captcha answer PASSED always passes")
    helper = None
    if with_worker and not settings.kafka_bootstrap:
        helper = Supervised([sys.argv[0], "worker"])  # started again whenever it dies
        helper.start()
    sys.argv = gunicorn_argv(host, port, workers, threads)
    try:
        WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()
    finally:
        if helper is not None:
            helper.stop()


def main() -> None:
    app()
