"""The composition root: build the stores, cache and projections a process needs."""

from __future__ import annotations

from dataclasses import dataclass

from commands.store import EventStore
from projections import PROJECTIONS, catalog
from projections.base import Projection
from projections.database import PostgresDB, ReadDB, SqliteDB
from upare.cache import Cache, RedisCache, SqliteCache
from upare.settings import Settings, postgres_env
from workers.mailer import Mailer


@dataclass
class Container:
    """Everything a Upare process is wired with."""

    settings: Settings
    store: EventStore
    db: ReadDB
    cache: Cache
    mailer: Mailer
    projections: list[type[Projection]]

    def close(self) -> None:
        self.store.close()
        self.db.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_store(settings: Settings) -> EventStore:
    """Build the event store the settings name."""
    if settings.is_postgres:
        return EventStore(env=postgres_env(settings.database_url))
    folder = settings.sqlite_dir
    folder.mkdir(parents=True, exist_ok=True)
    return EventStore(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(folder / "events.sqlite3"),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    )


def build_readdb(settings: Settings) -> ReadDB:
    """Build the read-model database the settings name."""
    if settings.is_postgres:
        return PostgresDB(settings.database_url)
    settings.sqlite_dir.mkdir(parents=True, exist_ok=True)
    return SqliteDB(settings.sqlite_dir / "readmodels.sqlite3")


def build_cache(settings: Settings) -> Cache:
    """Build the cache: Redis when configured, else a SQLite file."""
    if settings.redis_url:
        return RedisCache(settings.redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteCache(settings.data_dir / "cache.sqlite3")


def bootstrap(settings: Settings | None = None) -> Container:
    """Wire a process from its settings, creating missing tables."""
    settings = settings or Settings.from_env()
    container = Container(
        settings=settings,
        store=build_store(settings),
        db=build_readdb(settings),
        cache=build_cache(settings),
        mailer=Mailer(settings.mail_url, settings.sms_url, settings.mail_from),
        projections=PROJECTIONS,
    )
    catalog.install(container.db, container.projections)
    return container
