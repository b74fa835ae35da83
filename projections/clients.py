"""The clients read model: the registered OAuth apps, as operators list them."""

from __future__ import annotations

import json

from domain.oauth import Client
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord


class ClientsProjection(Projection):
    """One row per client, deleted ones included (`deleted_at` set). `redirect_uris` and
    `scopes` are JSON lists; the flags are 0 or 1; times are ISO 8601 UTC. No secret, nor its
    digest: the read side never needs them."""

    name = "clients"
    tables = {
        "clients": (
            "client_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL, name TEXT NOT NULL,"
            " redirect_uris TEXT NOT NULL, scopes TEXT NOT NULL, trusted INTEGER NOT NULL,"
            " password_grant INTEGER NOT NULL, public INTEGER NOT NULL,"
            " created_at TEXT NOT NULL, secret_rotated_at TEXT, deleted_at TEXT"
        ),
    }
    indexes = {"clients": ["aggregate_id"]}

    @handles(Client.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        data = event.data
        tx.execute(
            f"INSERT INTO {self.table('clients')} (client_id, aggregate_id, name, redirect_uris,"
            " scopes, trusted, password_grant, public, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id) DO NOTHING",
            (
                data["client_id"],
                str(event.originator_id),
                data["name"],
                json.dumps(data["redirect_uris"]),
                json.dumps(data["scopes"]),
                int(data["trusted"]),
                int(data["password_grant"]),
                int(data["public"]),
                event.timestamp.isoformat(),
            ),
        )

    def _stamp(self, tx: Transaction, event: EventRecord, column: str) -> None:
        tx.execute(
            f"UPDATE {self.table('clients')} SET {column} = ? WHERE aggregate_id = ?",
            (event.timestamp.isoformat(), str(event.originator_id)),
        )

    @handles(Client.SecretRotated)
    def secret_rotated(self, tx: Transaction, event: EventRecord) -> None:
        self._stamp(tx, event, "secret_rotated_at")

    @handles(Client.Deleted)
    def deleted(self, tx: Transaction, event: EventRecord) -> None:
        self._stamp(tx, event, "deleted_at")
