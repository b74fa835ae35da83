"""The event store a process opens: the write application and the vault of personal keys.

Apart from the composition root (`upare.bootstrap`), which wires the rest of a process around
it, so that a command that only reads the store (`upare events ...`) imports no more than it
needs: none of the caches, brokers, mailers and command handlers.
"""

from __future__ import annotations

from commands.application import WriteApplication
from commands.sqlite_recorder import SQLITE
from projections.database import ReadDB
from upare.settings import Settings, postgres_env
from upare.vault import TableKeys, Vault


def build_app(settings: Settings, create: bool = True) -> WriteApplication:
    """Build the write application on the event store the settings name.

    Without `create` it does not touch the database until first used, so a process can start
    while the database is down (the API's workers: `upare serve` creates the tables first).
    """
    vault = build_vault(settings, create)
    if settings.is_postgres:
        from commands.group_commit import GROUPED

        env = postgres_env(settings.database_url)
        env = {**env, "CREATE_TABLE": "y" if create else "n", "APPLICATION_RECORDER_TOPIC": GROUPED}
    else:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.sqlite_dir / "events.sqlite3"),
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": SQLITE,
        }
    return WriteApplication(env=env, vault=vault, secret_key=settings.secret_key)


def build_vault(settings: Settings, create: bool = True) -> Vault:
    """Build the vault of personal keys, in the event store's own database (`upare.vault`)."""
    keys_db: ReadDB
    if settings.is_postgres:
        from projections.postgres import PostgresDB

        keys_db = PostgresDB(settings.database_url, max_size=2)
    else:
        from projections.sqlite import SqliteDB

        settings.sqlite_dir.mkdir(parents=True, exist_ok=True)
        keys_db = SqliteDB(settings.sqlite_dir / "events.sqlite3")
    keys = TableKeys(keys_db)
    if create:
        keys.install()
    return Vault(keys, settings.secret_key)
