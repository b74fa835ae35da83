"""Fixtures the integration tests share: the operators' CLI against a test's databases, and the
store feed running beside a test."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from projections import catalog
from tests.integration.feeds import following
from tests.integration.welcome import SENT, Welcome
from upare.cli import app


@pytest.fixture
def cli(container):
    """Return a function running `upare ARGS...` against the container's databases; it asserts
    the command succeeded and returns what it printed."""
    env = {
        "UPARE_DATA_DIR": str(container.settings.data_dir),
        "UPARE_DATABASE_URL": container.settings.database_url,
    }
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the CLI sets up logging its own way

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    yield run
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def feeding(container):
    """Run the store feed in a thread for the test, as `upare worker` does beside the API."""
    with following(container):
        yield


@pytest.fixture
def welcome(container):
    """The `Welcome` projection installed, with nothing sent yet."""
    catalog.install(container.db, [Welcome], container.log.head())
    SENT.clear()
    yield Welcome
    SENT.clear()
