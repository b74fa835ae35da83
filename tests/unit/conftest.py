"""Fixtures for in-process API tests on the embedded default (SQLite in a temp folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pytest

from api.app import create_app
from tests.integration.feeds import following
from upare.bootstrap import Container, bootstrap
from upare.settings import Settings
from workers.store_feed import StoreFeed


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Container]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/db")
    with bootstrap(settings) as wired:
        yield wired


@pytest.fixture
def client(embedded: Container) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(embedded))


@pytest.fixture
def project(embedded: Container):
    """Return a function that runs the projections over everything stored so far."""
    feed = StoreFeed(embedded.log, embedded.db, embedded.projections)

    def run() -> None:
        while feed.run_once():
            pass

    return run


@pytest.fixture
def feeding(embedded: Container) -> Iterator[None]:
    """Run the store feed in a thread for the test, as `upare serve`'s worker does."""
    with following(embedded):
        yield
