"""A fresh Upare container for a benchmark: a new PostgreSQL database, or SQLite in a temp dir."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from upare.bootstrap import Container, bootstrap
from upare.settings import Settings

TEST_POSTGRES = "postgresql://upare:upare@127.0.0.1:5432/upare_test"


def server_url() -> str | None:
    """Return a PostgreSQL URL that answers (UPARE_DATABASE_URL, else the test server)."""
    for url in (os.environ.get("UPARE_DATABASE_URL", ""), TEST_POSTGRES):
        if url.startswith("postgres"):
            try:
                with psycopg.connect(url, connect_timeout=3) as connection:
                    connection.execute("SELECT 1")
                return url
            except psycopg.Error:
                continue
    return None


def pick_backend(wanted: str) -> str:
    """Return `postgres` or `sqlite`: the one asked for, or PostgreSQL when it answers."""
    if wanted == "auto":
        return "postgres" if server_url() else "sqlite"
    return wanted


@contextmanager
def fresh_container(backend: str, **settings: str) -> Iterator[Container]:
    """Yield a container on an empty database of this backend; drop the database after."""
    with tempfile.TemporaryDirectory(prefix="upare-bench-") as folder:
        if backend == "sqlite":
            container = bootstrap(
                Settings(data_dir=Path(folder), database_url=f"sqlite:///{folder}", **settings)
            )
            try:
                yield container
            finally:
                container.close()
            return
        server = server_url()
        if server is None:
            raise SystemExit("PostgreSQL does not answer: run `bash scripts/services.sh up`")
        name = f"upare_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        url = server.rsplit("/", 1)[0] + f"/{name}"
        container = bootstrap(Settings(data_dir=Path(folder), database_url=url, **settings))
        try:
            yield container
        finally:
            container.close()
            with psycopg.connect(server, autocommit=True) as connection:
                connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def settle(container: Container) -> None:
    """VACUUM ANALYZE a just-written PostgreSQL store, as autovacuum soon would, then
    CHECKPOINT it, as the server would within minutes: the first reader of a fresh row sets
    its hint bits (a write of every page it reads), and a rebuild timed while autovacuum
    still works through a million events shares the disk with it (the scale run, timed right
    after the store was written: 82 s one run, 43 s settled); one timed while the checkpoint
    writes out the pages the writer left dirty shares it with that (the social benchmark's
    recommendations rebuild 2.8-3.0 s, 2.5 s after the checkpoint)."""
    url = container.settings.database_url
    if url.startswith("postgres"):
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
            connection.execute("CHECKPOINT")
