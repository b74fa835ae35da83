"""The composition root: build the stores, cache, command bus and projections a process needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from commands.application import WriteApplication
from commands.handlers import Bus
from commands.users import Uids
from projections import NOTIFIER_PROJECTIONS, PROJECTIONS, catalog
from projections.apply import Retry
from projections.base import Projection
from projections.database import ReadDB, Wakeup
from projections.events import EventLog
from projections.read_cache import ReadCache
from upare import sessions, store_schema
from upare.cache import Cache, Reads, RedisCache, SqliteCache
from upare.rate_limits import RateLimits, TokenRates
from upare.settings import Settings
from upare.store import build_app
from upare.tracked import TrackedKeys
from workers.mailer import Mailer


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    """Everything a Upare process is wired with."""

    settings: Settings
    app: WriteApplication
    db: ReadDB
    cache: Cache
    mailer: Mailer
    projections: list[type[Projection]]  # the read models' feed
    clock: Callable[[], datetime] = utc_now
    notifier_projections: list[type[Projection]] = field(
        default_factory=lambda: list(NOTIFIER_PROJECTIONS)
    )  # the notifier's feed

    @property
    def every_projection(self) -> list[type[Projection]]:
        """Every projection, whichever feed runs it (for installs, status and rebuilds)."""
        return [*self.projections, *self.notifier_projections]

    @cached_property
    def log(self) -> EventLog:
        """The event store's log, as the read side and the relay read it."""
        return EventLog(self.app.recorder, self.app.mapper)

    @cached_property
    def retry(self) -> Retry:
        """How the feeds retry a failing batch before they park its culprit."""
        settings = self.settings
        return Retry(settings.projection_retries, settings.projection_backoff_ms / 1000)

    @cached_property
    def limits(self) -> RateLimits:
        """The rate limits (failed logins, code sends), counted in the cache."""
        return RateLimits(self.cache)

    @cached_property
    def token_rates(self) -> TokenRates:
        """The request rates of OAuth token callers, per client and per token."""
        settings = self.settings
        return TokenRates(self.limits, settings.oauth_client_rate, settings.oauth_token_rate)

    @cached_property
    def wakeup(self) -> Wakeup:
        """What tells this process that the read models moved (one listener a process)."""
        return self.db.wakeup()

    @cached_property
    def reads(self) -> ReadCache:
        """The read models as queries read them when they need no given position."""
        return ReadCache(self.db, self.wakeup)

    @cached_property
    def caller_reads(self) -> Reads:
        """Where callers' sessions, tokens and last writes are read: on Redis, kept in the
        process while Redis tracks them unchanged (upare/tracked.py); else the cache itself."""
        if isinstance(self.cache, RedisCache):
            return TrackedKeys(self.cache, sessions.KEPT)
        return self.cache

    @cached_property
    def bus(self) -> Bus:
        """The command bus, its handlers bound to what they need."""
        return Bus(
            {
                "app": self.app,
                "uids": Uids(self.app),
                "cache": self.cache,
                "limits": self.limits,
                "db": self.db,
                "mailer": self.mailer,
                "clock": self.clock,
                "settings": self.settings,
            }
        )

    def close(self) -> None:
        self.app.close()
        self.db.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_readdb(settings: Settings) -> ReadDB:
    """Build the read-model database the settings name."""
    if settings.is_postgres:
        from projections.postgres import PostgresDB

        return PostgresDB(settings.database_url)
    from projections.sqlite import SqliteDB

    settings.sqlite_dir.mkdir(parents=True, exist_ok=True)
    return SqliteDB(settings.sqlite_dir / "readmodels.sqlite3")


def build_cache(settings: Settings) -> Cache:
    """Build the cache: Redis when configured, else a SQLite file."""
    if settings.redis_url:
        return RedisCache(settings.redis_url, settings.redis_prefix)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteCache(settings.data_dir / "cache.sqlite3")


def bootstrap(
    settings: Settings | None = None,
    projections: list[type[Projection]] | None = None,
    install: bool = True,
    upgrading: bool = False,
) -> Container:
    """Wire a process from its settings, creating missing tables (unless not to `install`).

    Installing refuses a store written by an older schema (`upare.store_schema`), unless the
    process is `upgrading` it.
    """
    settings = settings or Settings.from_env()
    container = Container(
        settings=settings,
        app=build_app(settings, create=install),
        db=build_readdb(settings),
        cache=build_cache(settings),
        mailer=Mailer(settings.mail_url, settings.sms_url, settings.mail_from),
        projections=PROJECTIONS if projections is None else projections,
    )
    if install:
        try:
            store_schema.install(container.app, upgrading)
        except store_schema.OutdatedStore:
            container.close()
            raise
        catalog.install(container.db, container.every_projection, container.log.head())
    return container
