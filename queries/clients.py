"""Queries on the registered OAuth clients, answered from the clients read model."""

from __future__ import annotations

import json
from typing import Any

from projections.clients import ClientsProjection
from projections.database import ReadDB

CLIENTS = ClientsProjection.view("clients")
COLUMNS = (
    "client_id, name, redirect_uris, scopes, trusted, password_grant, public, created_at,"
    " secret_rotated_at, deleted_at"
)


def clients(db: ReadDB) -> list[dict[str, Any]]:
    """Return every client, deleted ones included, in the order they were registered."""
    rows = db.fetchall(f"SELECT {COLUMNS} FROM {CLIENTS} ORDER BY created_at, client_id")
    return [
        {
            "client_id": client_id,
            "name": name,
            "redirect_uris": json.loads(redirect_uris),
            "scopes": json.loads(scopes),
            "trusted": bool(trusted),
            "password_grant": bool(password_grant),
            "public": bool(public),
            "created_at": created_at,
            "secret_rotated_at": secret_rotated_at,
            "deleted_at": deleted_at,
        }
        for (
            client_id,
            name,
            redirect_uris,
            scopes,
            trusted,
            password_grant,
            public,
            created_at,
            secret_rotated_at,
            deleted_at,
        ) in rows
    ]
