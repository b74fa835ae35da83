"""Run the embedded store feed over everything a test stored so far."""

from __future__ import annotations

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
