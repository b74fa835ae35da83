"""Run the embedded store feed: over everything a test stored so far, or beside the test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from projections.apply import Retry
from projections.base import Projection
from upare.bootstrap import Container
from workers.store_feed import StoreFeed


def project(
    container: Container,
    classes: list[type[Projection]] | None = None,
    retry: Retry | None = None,
) -> None:
    """Feed the container's projections (or `classes`) until they hold every stored event."""
    feed = StoreFeed(container.log, container.db, classes or container.projections, retry)
    while feed.run_once():
        pass


@contextmanager
def following(container: Container) -> Iterator[None]:
    """Run the store feed in a thread meanwhile, as the worker beside `upare serve` does."""
    stop = threading.Event()
    feed = StoreFeed(container.log, container.db, container.projections)
    thread = threading.Thread(target=feed.run, args=(stop,))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
