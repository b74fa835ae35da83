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


def username_taken(db: ReadDB, username: str) -> bool:
    """Tell whether a username is registered, ignoring case."""
    key = username.casefold()
    return db.fetchone(f"SELECT 1 FROM {PROFILES} WHERE username_key = ?", (key,)) is not None


def email_taken(db: ReadDB, email: str) -> bool:
    """Tell whether an email is registered, ignoring case."""
    key = email.strip().casefold()
    return db.fetchone(f"SELECT 1 FROM {PROFILES} WHERE email_key = ?", (key,)) is not None
