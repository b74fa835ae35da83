"""Queries on accounts, answered from the users read model."""

from __future__ import annotations

from typing import Any

from projections.database import ReadDB
from projections.users import UsersProjection

PROFILES = UsersProjection.view("profiles")


def public_profile(db: ReadDB, uid: int) -> dict[str, Any] | None:
    """Return what anyone may see of a user, or None when there is no such user."""
    row = db.fetchone(f"SELECT uid, username, nickname FROM {PROFILES} WHERE uid = ?", (uid,))
    if row is None:
        return None
    return {"uid": row[0], "username": row[1], "nickname": row[2], "avatar": None}
