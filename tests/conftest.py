"""Fixtures shared by every test: settings on each backend, and the real services.

The services come from `scripts/services.sh up` (run by `make test`). Outside CI a missing
service skips its tests; in CI (CI=true) it fails them, so a green run means they ran.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from domain import passwords
from upare.bootstrap import Container, bootstrap
from upare.settings import Settings

POSTGRES_URL = os.environ.get(
    "UPARE_TEST_POSTGRES_URL", "postgresql://upare:upare@127.0.0.1:5432/upare_test"
)
REDIS_URL = os.environ.get("UPARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KAFKA_BOOTSTRAP = os.environ.get("UPARE_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def missing_service(name: str, why: object) -> None:
    """Fail in CI, skip elsewhere: a service test never passes without its service."""
    message = f"{name} is not reachable ({why}); run `bash scripts/services.sh up`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# OWASP's Argon2id costs 50 ms of CPU a hash, and the suite's own processes hash over a
# thousand passwords: they use the cheapest parameters. Servers the tests start keep the real
# ones, and tests/unit/test_passwords.py checks SHIPPED_HASHER's.
SHIPPED_HASHER = passwords.HASHER
passwords.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """Return the URL of the test PostgreSQL server's maintenance database."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as ex:
        missing_service("PostgreSQL", ex)
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """Return the URL of a fresh, empty PostgreSQL database, dropped after the test."""
    import psycopg

    name = f"upare_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def redis_url() -> str:
    """Return the URL of the test Redis server."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as ex:
        missing_service("Redis", ex)
    return REDIS_URL


@pytest.fixture
def kafka_bootstrap() -> str:
    """Return the bootstrap address of the test Kafka broker."""
    host, port = KAFKA_BOOTSTRAP.rsplit(":", 1)
    if not reachable(host, int(port)):
        missing_service("Kafka", f"nothing listens on {KAFKA_BOOTSTRAP}")
    return KAFKA_BOOTSTRAP


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Return embedded settings on SQLite, or on a fresh PostgreSQL database."""
    database_url = f"sqlite:///{tmp_path}/db"
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres_url")
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        mail_url=f"file://{tmp_path}/mail",
    )


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    """Return a wired container on the backend under test."""
    with bootstrap(settings) as wired:
        yield wired
