"""The two backends the account tests run on, as one `settings` fixture: the embedded default
(SQLite files, the cache in a SQLite file) and production's (PostgreSQL and Redis).

A test module takes it with `from tests.backends import backend_settings  # noqa: F401`;
it replaces tests/conftest.py's `settings` (whose PostgreSQL case keeps the SQLite cache).
On Redis, each test keeps its keys under a prefix of its own (UPARE_REDIS_PREFIX): uids and
client addresses are the same in every test's fresh database, and the Redis server is shared.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from upare.settings import Settings

POSTGRES_AND_REDIS = pytest.param(
    "postgres+redis", marks=(pytest.mark.postgres, pytest.mark.redis), id="postgres+redis"
)


@pytest.fixture(name="settings", params=["sqlite", POSTGRES_AND_REDIS])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Return settings on SQLite, or on a fresh PostgreSQL database with the Redis server."""
    embedded = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/db",
        mail_url=f"file://{tmp_path}/mail",
    )
    if request.param == "sqlite":
        return embedded
    return replace(
        embedded,
        database_url=request.getfixturevalue("postgres_url"),
        redis_url=request.getfixturevalue("redis_url"),
        redis_prefix=f"test-{uuid.uuid4().hex}:",
    )


def server_env(settings: Settings) -> dict[str, str]:
    """Return the UPARE_* settings that give a `upare serve` the same cache as `settings`."""
    if not settings.redis_url:
        return {}
    return {"UPARE_REDIS_URL": settings.redis_url, "UPARE_REDIS_PREFIX": settings.redis_prefix}
